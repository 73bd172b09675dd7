using System.Diagnostics;
using MetaRl.Core;
using MetaRl.Envs;
using MetaRl.Envs.Navigation;
using MetaRl.Experiments;
using MetaRl.Policies;
using MetaRl.Sampling;

namespace MetaRl.Cli;

/// <summary>`metarl bench`: whole-workload throughput and memory figures (BenchmarkDotNet covers the micro level in bench/).</summary>
internal static class Bench
{
    /// <summary>2D-navigation meta-batch, 20 tasks x 20 episodes x 100 steps, 2x100 tanh Gaussian MLP in the loop.</summary>
    public static void Sampler(TextWriter stdout, int tasks = 20, int episodes = 20, int repeats = 7)
    {
        var dist = new Navigation2DDistribution();
        var rng = new Rng(0);
        var policy = new GaussianMlpPolicy(2, (Box)dist.ActionSpace, [100, 100], rng.Split());
        var sampler = new Sampler(dist);
        var taskList = dist.Sample(tasks, rng).Cast<object>().ToList();
        sampler.Sample(policy, taskList, episodes, rng); // warm-up: JIT, env allocation
        var rates = new List<double>();
        long steps = 0;
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            var batch = sampler.Sample(policy, taskList, episodes, rng);
            clock.Stop();
            steps = batch.Steps;
            rates.Add(batch.Steps / clock.Elapsed.TotalSeconds);
        }
        rates.Sort();
        stdout.WriteLine($"sampler: 2d-navigation, {tasks} tasks x {episodes} episodes x 100 steps ({steps} env steps a batch), 2x100 tanh Gaussian MLP, 1 thread");
        stdout.WriteLine($"env steps/s: median {rates[rates.Count / 2]:0} (min {rates[0]:0}, max {rates[^1]:0}) over {repeats} batches");
    }

    /// <summary>Resident memory of a PPO run on 2D navigation after iteration 50 and after the last.</summary>
    public static void Memory(TextWriter stdout, int iterations)
    {
        if (iterations < 60) throw new UsageException("--iterations must be >= 60 for the memory benchmark (it compares iteration 50 with the last)");
        var run = new TrainingRun("ppo", "2d-navigation", new Dictionary<string, string> { ["num-batches"] = $"{iterations}" }, seed: 1);
        long at50 = 0;
        for (int i = 1; i <= iterations; i++)
        {
            run.RunIteration();
            if (i == 50 || i == iterations)
            {
                long rss = ResidentBytes();
                if (i == 50) at50 = rss;
                stdout.WriteLine($"iteration {i}: resident memory {rss / 1048576.0:0.0} MiB");
            }
        }
        long last = ResidentBytes();
        stdout.WriteLine($"change from iteration 50 to {iterations}: {100.0 * (last - at50) / at50:+0.0;-0.0}%");
    }

    static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }
}
