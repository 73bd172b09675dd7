using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(MetaRl.Benchmarks.SamplerBenchmarks).Assembly).Run(args);
