using MetaRl.Cli;
using MetaRl.Experiments;

namespace MetaRl.Tests.Cli;

/// <summary>The `metarl` tool end to end, in process: runs, resume, reproducibility and the handling of bad input.</summary>
public class CliTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("metarl-cli-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = MetaRl.Cli.Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    string Train(string outDir, params string[] extra)
    {
        var (code, output, err) = Run(["train", .. extra, "--out", Path.Combine(_root, outDir)]);
        Assert.True(code == 0, $"train failed ({code}): {err}");
        return output.Split('\n').Single(l => l.StartsWith("Results: ", StringComparison.Ordinal))["Results: ".Length..].Trim();
    }

    static readonly string[] Small = ["--set", "hidden-sizes=16,16", "--set", "batch-size=6", "--set", "checkpoint-every=3", "--seed", "5"];

    [Theory]
    [InlineData("ppo")]
    [InlineData("trpo")]
    [InlineData("vpg")]
    public void ResumingContinuesExactlyAsAnUninterruptedRun(string algorithm)
    {
        string straight = Train("a", [algorithm, "--iterations", "6", .. Small]);
        string split = Train("b", [algorithm, "--iterations", "3", .. Small]);
        var (code, _, err) = Run("train", "--resume", split, "--iterations", "6");
        Assert.True(code == 0, err);
        string expected = File.ReadAllText(Path.Combine(straight, RunDirectory.ProgressFile));
        Assert.Equal(7, expected.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(expected, File.ReadAllText(Path.Combine(split, RunDirectory.ProgressFile)));
    }

    [Fact]
    public void ARunsOwnConfigFileRerunsItExactly()
    {
        string first = Train("a", ["ppo", "--env", "sparse-point-robot", "--iterations", "2", .. Small]);
        string config = Path.Combine(first, "config.yaml");
        string again = Train("b", ["--config", config]); // algorithm, env and seed from the file
        string Progress(string d) => File.ReadAllText(Path.Combine(d, RunDirectory.ProgressFile));
        Assert.Equal(File.ReadAllText(config), File.ReadAllText(Path.Combine(again, "config.yaml")));
        Assert.Equal(Progress(first), Progress(again));
        string other = Train("c", ["ppo", "--config", config, "--seed", "6"]); // the command line wins
        Assert.Contains("seed: 6", File.ReadAllText(Path.Combine(other, "config.yaml")));
        var (code, _, err) = Run("train", "trpo", "--config", config);
        Assert.Equal(2, code);
        Assert.Contains("is a ppo run's config ('algorithm: ppo'), not trpo's", err);
    }

    [Fact]
    public void TheEtaKeepsItsDays()
    {
        Assert.Equal("00:01:30", MetaRl.Cli.Cli.Duration(TimeSpan.FromSeconds(90)));
        Assert.Equal("17d 02:30:00", MetaRl.Cli.Cli.Duration(TimeSpan.FromHours(17 * 24 + 2.5))); // hh:mm:ss alone printed 02:30:00
    }

    [Fact]
    public void TheSameSeedGivesAnIdenticalProgressFileAndAnotherSeedDoesNot()
    {
        string a = Train("a", ["ppo", "--iterations", "3", .. Small]);
        string b = Train("b", ["ppo", "--iterations", "3", .. Small]);
        string c = Train("c", ["ppo", "--iterations", "3", .. Small[..^1], "6"]);
        string Progress(string d) => File.ReadAllText(Path.Combine(d, RunDirectory.ProgressFile));
        Assert.Equal(Progress(a), Progress(b));
        Assert.NotEqual(Progress(a), Progress(c));
    }

    [Fact]
    public void TheLearningPlotAveragesSeedsAndDrawsAnAblationsSettingsAsLinesOfTheirOwn()
    {
        string a = Train("a", ["ppo", "--iterations", "2", .. Small]);
        string b = Train("b", ["ppo", "--iterations", "2", .. Small[..^1], "6"]);
        string c = Train("c", ["ppo", "--iterations", "2", "--set", "ent-coef=0.1", .. Small]);
        // A key an older run's config.yaml lacks is read as its default: delete ent-coef from a's, it is still one line with b.
        string aConfig = Path.Combine(a, RunDirectory.ConfigFile);
        File.WriteAllLines(aConfig, File.ReadAllLines(aConfig).Where(l => !l.StartsWith("ent-coef:", StringComparison.Ordinal)));
        string Legend(string prefix, params string[] runs)
        {
            var (code, _, err) = Run(["plot", "--learning", .. runs, "--out", Path.Combine(_root, prefix)]);
            Assert.True(code == 0, err);
            return File.ReadAllText(Path.Combine(_root, prefix + ".svg"));
        }
        string seeds = Legend("seeds", a, b);
        Assert.Contains("mean return: mean of 2 runs", seeds);
        Assert.DoesNotContain("ent-coef=", seeds);
        string ablation = Legend("ablation", a, b, c);
        Assert.Contains("ent-coef=0: mean return: mean of 2 runs", ablation); // the default
        Assert.Contains("ent-coef=0.1: mean return", ablation);
        Assert.DoesNotContain("seed=", ablation);
    }

    [Fact]
    public void TheLearningPlotSaysWhichEpisodesPearlsReturnIsOf()
    {
        string pearl = Train("pearl", ["pearl", "--env", "2d-navigation", "--iterations", "2", "--set", "hidden-sizes=16", "--set", "encoder-hidden-sizes=16",
            "--set", "num-train-tasks=4", "--set", "num-initial-steps=40", "--set", "num-tasks-sample=2", "--set", "num-steps-prior=20", "--set", "num-extra-rl-steps-posterior=20",
            "--set", "num-train-steps-per-itr=2", "--set", "meta-batch=2", "--set", "batch-size=8", "--set", "embedding-batch-size=8"]);
        string prefix = Path.Combine(_root, "pearl-curve");
        var (code, _, err) = Run("plot", "--learning", "--x", "env-steps", pearl, "--out", prefix);
        Assert.True(code == 0, err);
        string svg = File.ReadAllText(prefix + ".svg");
        Assert.Contains("return of its posterior-sampling episodes", svg);
        Assert.DoesNotContain("mean return", svg);
    }

    [Fact]
    public void TheLearningPlotPutsLearnersOfDifferentAlgorithmsOnOneAxisOfEnvironmentSteps()
    {
        string ppo = Train("p", ["ppo", "--iterations", "2", .. Small]);
        var (code, output, err) = Run("train", "maml", "--iterations", "2", "--set", "meta-batch-size=3", "--set", "fast-batch-size=2", "--set", "hidden-sizes=8", "--out", Path.Combine(_root, "m"));
        Assert.True(code == 0, err);
        string maml = output.Split('\n').Single(l => l.StartsWith("Results: ", StringComparison.Ordinal))["Results: ".Length..].Trim();
        string prefix = Path.Combine(_root, "steps");
        (code, _, err) = Run("plot", "--learning", "--x", "env-steps", "--log-x", ppo, maml, "--out", prefix);
        Assert.True(code == 0, err);
        string svg = File.ReadAllText(prefix + ".svg");
        // each algorithm its own columns and a label of its name alone (not every key the other lacks)
        Assert.Contains("maml: after adaptation (1 inner step)", svg);
        Assert.Contains("maml: before adaptation", svg);
        Assert.Contains("ppo: mean return", svg);
        Assert.Contains("ppo, maml on 2d-navigation: learning curve", svg); // the algorithms of the one env, in the order given
        Assert.DoesNotContain("hidden-sizes=", svg);
        Assert.Contains("environment steps (log scale)", svg);
        // ticks at 1, 2, 5 x 10^k steps: ppo's iterations of 600 (6 episodes of 100 steps), maml's of 1,200 (3 tasks x 2 episodes, before and after)
        Assert.Matches(@">\s*1k\s*<", svg);
        Assert.Matches(@">\s*2k\s*<", svg);

        (code, _, err) = Run("plot", "--learning", "--x", "episodes", ppo);
        Assert.Equal(2, code);
        Assert.Contains("env-steps", err);
        (code, _, err) = Run("plot", "--x", "env-steps", ppo);
        Assert.Equal(2, code);
        Assert.Contains("--learning", err);
        (code, _, err) = Run("plot", "--conflict", "--log-x", ppo);
        Assert.Equal(2, code);
        Assert.Contains("--learning", err);
    }

    [Fact]
    public void ARunWritesItsConfigProgressTensorboardCheckpointAndSummary()
    {
        string dir = Train("a", ["vpg", "--iterations", "2", .. Small]);
        Assert.Matches(@"vpg-2d-navigation[/\\]\d{8}-\d{6}-seed5$", dir);
        foreach (var f in new[] { RunDirectory.ConfigFile, RunDirectory.ProgressFile, RunDirectory.CheckpointFile, RunDirectory.SummaryFile })
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(dir, "tb"), "events.out.tfevents.*"));
        Assert.Contains("batch-size: 6", File.ReadAllText(Path.Combine(dir, RunDirectory.ConfigFile)));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp*")); // checkpoints are renamed into place

        var (code, output, err) = Run("eval", dir, "--episodes", "2");
        Assert.True(code == 0, err);
        Assert.Contains("test split", output);
        Assert.Contains("out-of-distribution", output);
        Assert.True(File.Exists(Path.Combine(dir, "evaluation.csv")));
    }

    [Fact]
    public void AMetaLearnerRunIsEvaluatedByAdaptationStepsAndPlotted()
    {
        var (code, output, err) = Run("train", "maml", "--iterations", "2", "--set", "meta-batch-size=3", "--set", "fast-batch-size=2", "--set", "hidden-sizes=8", "--set", "keep-checkpoint-every=1", "--out", Path.Combine(_root, "m"));
        Assert.True(code == 0, err);
        Assert.Contains("return pre ", output);
        Assert.Contains(" post ", output);
        string dir = output.Split('\n').Single(l => l.StartsWith("Results: ", StringComparison.Ordinal))["Results: ".Length..].Trim();
        Assert.Contains("post_return", File.ReadAllText(Path.Combine(dir, RunDirectory.ProgressFile)));

        (code, output, err) = Run("eval", dir, "--steps", "2");
        Assert.True(code == 0, err);
        foreach (var split in new[] { "train", "test", "ood" }) Assert.Contains(split, output);
        Assert.Equal(1 + 3 * 3, File.ReadAllLines(Path.Combine(dir, "adaptation.csv")).Length); // header + 3 splits x steps 0..2
        Assert.Contains("\"adaptation\"", File.ReadAllText(Path.Combine(dir, RunDirectory.SummaryFile)));
        Assert.Contains("\"final_mean_return\"", File.ReadAllText(Path.Combine(dir, RunDirectory.SummaryFile)));
        string summary = File.ReadAllText(Path.Combine(dir, RunDirectory.SummaryFile));
        (code, output, err) = Run("eval", dir, "--steps", "5", "--iteration", "1"); // the run as it was after its first meta-update
        Assert.True(code == 0, err);
        Assert.Contains("adaptation-iteration-1.csv", output);
        Assert.Equal(1 + 3 * 6, File.ReadAllLines(Path.Combine(dir, "adaptation-iteration-1.csv")).Length);
        // Six steps would not fit as columns: a row per step, each split's steps 0 to 5 in order, lines within a terminal's width.
        var testRows = output.Split('\n').Where(l => l.Contains("│ test ")).Select(l => l.Split('│', StringSplitOptions.TrimEntries)[3]).ToList();
        Assert.Equal(["0", "1", "2", "3", "4", "5"], testRows);
        Assert.All(output.Split('\n'), l => Assert.True(l.Length <= 80, l));
        Assert.Equal(summary, File.ReadAllText(Path.Combine(dir, RunDirectory.SummaryFile))); // the latest checkpoint's adaptation stays

        (code, output, err) = Run("plot", dir);
        Assert.True(code == 0, err);
        Assert.True(new FileInfo(Path.Combine(dir, "adaptation-test.png")).Length > 1000);
        Assert.True(File.Exists(Path.Combine(dir, "adaptation-ood.svg")));
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, Run("plot", Path.Combine(_root, "nothing-here")).Code);
    }

    [Fact]
    public void AKeptCheckpointIsTheRunAsItWasAtThatIterationAndEvaluatesLikeIt()
    {
        // kept every 2 iterations, checkpointed every 3 (Small): iterations 2 and 4 are kept, 3 is not
        string run = Train("a", ["ppo", "--iterations", "4", "--set", "keep-checkpoint-every=2", .. Small]);
        string shorter = Train("b", ["ppo", "--iterations", "2", .. Small]);
        var kept = RunDirectory.Open(run);
        Assert.Equal([2, 4], kept.KeptIterations());
        Assert.Equal(File.ReadAllBytes(Path.Combine(shorter, RunDirectory.CheckpointFile)), File.ReadAllBytes(kept.KeptCheckpointPath(2)));
        Assert.Equal(File.ReadAllBytes(kept.CheckpointPath), File.ReadAllBytes(kept.KeptCheckpointPath(4)));

        var (code, output, err) = Run("eval", run, "--episodes", "2", "--iteration", "2");
        Assert.True(code == 0, err);
        Assert.Contains("iteration 2", output);
        Assert.False(File.Exists(Path.Combine(run, "evaluation.csv"))); // the latest checkpoint's results are not overwritten
        (code, _, err) = Run("eval", shorter, "--episodes", "2");
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllText(Path.Combine(shorter, "evaluation.csv")), File.ReadAllText(Path.Combine(run, "evaluation-iteration-2.csv")));

        (code, _, err) = Run("eval", run, "--iteration", "3");
        Assert.Equal(2, code);
        Assert.Contains("keeps no checkpoint at iteration 3; kept: 2, 4", err);
        (code, _, err) = Run("eval", shorter, "--iteration", "2");
        Assert.Equal(2, code);
        Assert.Contains("it keeps none (train with --set keep-checkpoint-every=N", err);
        // the cadence of keeping is bookkeeping, not a setting a reproduction's run changed
        Assert.Empty(Reproduction.DifferencesFromReference("ppo", "2d-navigation", new Dictionary<string, string> { ["keep-checkpoint-every"] = "2" }));
    }

    [Theory]
    [InlineData("unknown env 'moon'; valid envs: 2d-navigation", "train", "ppo", "--env", "moon")]
    [InlineData("unknown algorithm 'dqn'; valid algorithms: vpg, ppo, trpo", "train", "dqn")]
    [InlineData("unknown config key 'lr-typo' (in --set); allowed keys:", "train", "ppo", "--set", "lr-typo=1")]
    [InlineData("unknown config key 'ent_coef' (in --set); did you mean 'ent-coef'? allowed keys:", "train", "ppo", "--set", "ent_coef=0.1")]
    [InlineData("preset must be one of paper for rl2; got 'huge'", "train", "rl2", "--preset", "huge")]
    [InlineData("config key 'lr' must be > 0; got -0.1", "train", "ppo", "--set", "lr=-0.1")]
    [InlineData("config key 'batch-size' must be >= 1; got 0", "train", "ppo", "--set", "batch-size=0")]
    [InlineData("config key 'max-kl' takes a number; got 'big'", "train", "trpo", "--set", "max-kl=big")]
    [InlineData("config key 'nonlinearity' must be one of tanh, relu; got 'gelu'", "train", "ppo", "--set", "nonlinearity=gelu")]
    [InlineData("--set takes key=value, got 'lr'", "train", "ppo", "--set", "lr")]
    [InlineData("pearl needs continuous (box) actions; gridworld has Discrete(5) (for discrete actions: ppo, trpo or vpg on one task; maml, rl2 or varibad to meta-learn)", "train", "pearl", "--env", "gridworld")]
    [InlineData("sac needs continuous (box) actions; bandit-k5 has Discrete(5) (for discrete actions", "train", "sac", "--env", "bandit-k5")]
    [InlineData("is not a run directory", "eval", "/nonexistent/run")]
    public void UserMistakesGetOneClearLineAndExitCode2(string message, params string[] args)
    {
        var (code, output, err) = Run(args[0] == "train" ? [.. args, "--out", Path.Combine(_root, "x")] : args);
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains(message, err);
        Assert.DoesNotContain("   at ", err); // no stack trace
        Assert.False(Directory.Exists(Path.Combine(_root, "x")) && Directory.EnumerateFiles(Path.Combine(_root, "x"), "progress.csv", SearchOption.AllDirectories).Any(),
            "nothing may be trained before the input is checked");
        Assert.Equal("", output);
    }

    [Fact]
    public void ParseErrorsExitWith2()
    {
        var (code, _, err) = Run("train", "ppo", "--seed", "abc");
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains("abc", err);
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, Run("frobnicate").Code);
    }

    [Fact]
    public void ConfigFilesAreReadAndCheckedLikeOverrides()
    {
        string file = Path.Combine(_root, "c.yaml");
        File.WriteAllText(file, "batch-size: 4\nhidden-sizes: [8, 8]\nmax-kl: 0.02\n");
        string dir = Train("a", ["trpo", "--config", file, "--iterations", "1"]);
        var yaml = File.ReadAllText(Path.Combine(dir, RunDirectory.ConfigFile));
        Assert.Contains("hidden-sizes: [8, 8]", yaml);
        Assert.Contains("max-kl: 0.02", yaml);
        File.WriteAllText(file, "max-kl: -1\n");
        var (code, _, err) = Run("train", "trpo", "--config", file);
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains("'max-kl' must be > 0", err);
    }

    [Fact]
    public void AnUnknownKeyInAFileNamesTheFileAndTheKeyMeant()
    {
        string file = Path.Combine(_root, "typo.yaml");
        File.WriteAllText(file, "fast-lr: 0.1\nmeta_batch_size: 20\n");
        var (code, _, err) = Run("train", "maml", "--config", file, "--out", Path.Combine(_root, "x"));
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains($"unknown config key 'meta_batch_size' (in config file '{file}'); did you mean 'meta-batch-size'?", err);
    }

    // pytorch-maml-rl's configs/maml/2d-navigation.yaml as that project writes it: a quoted gym id, env-kwargs as a
    // nested mapping, "Tanh" capitalised, 1.0e-2 floats; comments trimmed.
    const string PytorchMamlRl2dNavigation = """
        env-name: "2DNavigation-v0"
        env-kwargs:
          low: -0.5
          high: 0.5
        gamma: 0.99
        gae-lambda: 1.0
        first-order: false
        hidden-sizes: [64, 64]
        nonlinearity: "Tanh"
        fast-batch-size: 20
        num-steps: 1
        fast-lr: 0.1
        num-batches: 500
        meta-batch-size: 20
        max-kl: 1.0e-2
        cg-iters: 10
        cg-damping: 1.0e-5
        ls-max-steps: 15
        ls-backtrack-ratio: 0.8
        """;

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void PytorchMamlRlsOwnConfigTrainsAsItIs()
    {
        string file = Path.Combine(_root, "2d-navigation.yaml");
        File.WriteAllText(file, PytorchMamlRl2dNavigation);
        string dir = Train("a", ["maml", "--config", file, "--iterations", "1", "--threads", "1"]);
        var yaml = File.ReadAllText(Path.Combine(dir, RunDirectory.ConfigFile));
        Assert.Contains("env: 2d-navigation", yaml);
        Assert.Contains("nonlinearity: tanh", yaml);
        Assert.Contains("max-kl: 0.01", yaml);
        Assert.StartsWith(Path.Combine(_root, "a", "maml-2d-navigation"), dir);

        File.WriteAllText(file, PytorchMamlRl2dNavigation.Replace("high: 0.5", "high: 2.0"));
        var (code, _, err) = Run("train", "maml", "--config", file, "--out", Path.Combine(_root, "x"));
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains("env-kwargs.high: 2d-navigation is built with high = 0.5 only; got '2.0'", err);
        File.WriteAllText(file, PytorchMamlRl2dNavigation);
        (code, _, err) = Run("train", "maml", "--config", file, "--env", "bandit-k5", "--out", Path.Combine(_root, "x"));
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains("--env bandit-k5 and the config's env-name 2DNavigation-v0 (2d-navigation) disagree", err);
    }

    [Fact]
    public void ListNamesEveryEnvAlgorithmAndExperiment()
    {
        var (code, output, _) = Run("list");
        Assert.Equal(0, code);
        foreach (var name in MetaRl.Envs.EnvRegistry.Names.Concat(MetaRl.Algorithms.LearnerRegistry.Names)
                     .Concat(["demo", "maml-2d-navigation", "rl2-bandits", "rl2-mdps", "varibad-gridworld", "pearl-point-robot"]))
            Assert.Contains(name, output);
    }

    [Fact]
    public void MultiTaskRunsTrainOnASuiteEvaluateTaskByTaskAndDrawTheirConflictAndTransfer()
    {
        var (code, output, error) = Run("train", "mt-ppo", "--suite", "point-conflict", "--iterations", "3", "--set", "episodes-per-task=2", "--out", _root);
        Assert.True(code == 0, error);
        string run = Directory.GetDirectories(Path.Combine(_root, "mt-ppo-point-conflict")).Single();
        (code, output, error) = Run("eval", run, "--episodes", "1");
        Assert.True(code == 0, error);
        foreach (var task in new[] { "right", "left", "up", "down", "goal-45", "goal-225", "mean over tasks" }) Assert.Contains(task, output);
        Assert.Equal(7, File.ReadAllLines(Path.Combine(run, "evaluation-tasks.csv")).Length);
        (code, _, error) = Run("plot", run, "--conflict");
        Assert.True(code == 0, error);
        Assert.True(new FileInfo(Path.Combine(run, "conflict.png")).Length > 1000);

        string transfer = Path.Combine(_root, "transfer");
        (code, output, error) = Run("transfer", "--suite", "point-goals", "--iterations", "2", "--seeds", "1", "--pairwise", "--widths", "8,16", "--set", "episodes-per-task=2", "--out", transfer);
        Assert.True(code == 0, error);
        Assert.Contains("## Pairwise", output);
        var pairwise = File.ReadAllLines(Path.Combine(transfer, "pairwise.csv"));
        Assert.Equal(5, pairwise.Length); // header and 4 tasks
        Assert.Equal("1", pairwise[1].Split(',')[1]); // a task beside itself is itself
        Assert.Equal(1 + 2 * 4, File.ReadAllLines(Path.Combine(transfer, "transfer.csv")).Length); // 4 tasks x 2 widths
        foreach (var f in new[] { "pairwise.png", "capacity.png", "report.md" }) Assert.True(File.Exists(Path.Combine(transfer, f)), f);
        // `metarl plot --transfer` redraws the study's figures from its CSVs alone: the same texts (title, labels, legend) and
        // the same marks as the study drew (positions may differ by a rounding of text measurement within one process).
        static string Svg(string path)
        {
            string svg = File.ReadAllText(path);
            var texts = System.Text.RegularExpressions.Regex.Matches(svg, ">([^<>]+)</text>").Select(m => m.Groups[1].Value.Trim());
            int marks = System.Text.RegularExpressions.Regex.Matches(svg, "<(path|circle|rect|line|polyline|ellipse)[ >]").Count;
            return $"|{string.Join("|", texts)}| ({marks} marks)";
        }
        (code, _, error) = Run("plot", "--transfer", transfer, "--out", Path.Combine(_root, "redrawn"));
        Assert.True(code == 0, error);
        Assert.Equal(Svg(Path.Combine(transfer, "capacity.svg")), Svg(Path.Combine(_root, "redrawn.svg")));
        Assert.Equal(Svg(Path.Combine(transfer, "pairwise.svg")), Svg(Path.Combine(_root, "redrawn-pairwise.svg")));
        Assert.Contains("|Capacity sweep: point-goals, 1 seed|", Svg(Path.Combine(_root, "redrawn.svg")));
        Assert.Equal(2, Run("plot", "--transfer", _root).Code); // no transfer.csv there

        // MT-SAC, with PCGrad for the multi-task network (the independent ones take the plain sum).
        string sacTransfer = Path.Combine(_root, "transfer-sac");
        (code, output, error) = Run("transfer", "--suite", "point-goals", "--algorithm", "mt-sac", "--iterations", "2", "--seeds", "1", "--widths", "8",
            "--set", "gradient=pcgrad", "--set", "learning-starts=60", "--set", "batch-size=16", "--out", sacTransfer);
        Assert.True(code == 0, error);
        Assert.Contains("mt-sac, 2 iterations (1 episode of every task each)", output);
        Assert.Equal(1 + 4, File.ReadAllLines(Path.Combine(sacTransfer, "transfer.csv")).Length);

        Assert.Equal(2, Run("train", "mt-ppo", "--suite", "mt10").Code);
        Assert.Equal(2, Run("train", "mt-ppo", "--suite", "point-goals", "--env", "point-goals").Code);
        Assert.Equal(2, Run("transfer", "--suite", "point-goals", "--seeds", "a").Code);
    }

    [Fact]
    public void MujocoRunsGetTheReferenceSettingsAndRenderBeforeAndAfterAdaptation()
    {
        // pytorch-maml-rl's halfcheetah-vel.yaml: meta-batch 40 (under the values given, which win)
        var reference = new TrainingRun("maml", "halfcheetah-vel", new Dictionary<string, string>(), seed: 1);
        Assert.Equal(40, reference.Get<MetaRl.Algorithms.Maml.MamlConfig>().MetaBatchSize);
        Assert.Contains("meta-batch-size: 40", reference.ConfigYaml());
        reference.Dispose();

        string dir = Train("m", ["maml", "--env", "halfcheetah-vel", "--iterations", "1", "--set", "meta-batch-size=2", "--set", "fast-batch-size=2", "--set", "hidden-sizes=8,8"]);
        Assert.Contains("unstable_episodes", File.ReadLines(Path.Combine(dir, RunDirectory.ProgressFile)).First());
        var (code, output, err) = Run("render", dir, "--task", "2", "--split", "ood");
        Assert.True(code == 0, err);
        Assert.Contains("before adaptation: return", output);
        Assert.Contains("after 1 gradient step (2 episodes): return", output);
        Assert.DoesNotContain("No MuJoCo pictures", output); // scripts/test.sh installs Mesa's EGL: the frames are drawn
        Assert.True(new FileInfo(Path.Combine(dir, "render-ood-task2-frames.png")).Length > 50_000);
        Assert.True(new FileInfo(Path.Combine(dir, "render-ood-task2.png")).Length > 10_000);
        Assert.True(File.Exists(Path.Combine(dir, "render-ood-task2.svg")));
        (code, _, err) = Run("render", dir, "--task", "99");
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains("--task must be in [0, 39] for the test split of halfcheetah-vel; got 99", err);
    }

    [Fact]
    public void ThePaperPresetSetsThePapersScaleUnderTheValuesGiven()
    {
        var run = new TrainingRun("rl2", "bandit-k5", new Dictionary<string, string> { ["preset"] = "paper", ["hidden-size"] = "64" }, seed: 1);
        var c = run.Get<MetaRl.Algorithms.Rl2.Rl2Config>();
        Assert.Equal((250_000, 64, MetaRl.Algorithms.Rl2.Rl2Optimizer.Trpo), (c.BatchSize, c.HiddenSize, c.Optimizer));
        var defaults = new TrainingRun("rl2", "bandit-k5", new Dictionary<string, string>(), seed: 1).Get<MetaRl.Algorithms.Rl2.Rl2Config>();
        Assert.Equal((20_000, 128), (defaults.BatchSize, defaults.HiddenSize));
    }

    [Fact]
    public void PearlsReducedPresetIsTheScaleOfTheReportsRuns()
    {
        // The committed point-robot runs' configs are what the preset gives, to the line, with the runs' length and checkpointing.
        var values = new Dictionary<string, string> { ["preset"] = "reduced", ["num-batches"] = "500", ["checkpoint-every"] = "10", ["keep-checkpoint-every"] = "10" };
        foreach (int seed in new[] { 1, 2 })
        {
            string committed = File.ReadAllText(Path.Combine(Repo.Root, "docs", "results", "pearl-point-robot", $"reduced-seed{seed}", "config.yaml"));
            Assert.Equal(committed.ReplaceLineEndings("\n").TrimEnd(), new TrainingRun("pearl", "sparse-point-robot", values, seed).ConfigYaml().ReplaceLineEndings("\n").TrimEnd());
        }
        // Under the values given (which win), over oyster's config for the family (which it overrides only in its own keys).
        var run = new TrainingRun("pearl", "halfcheetah-vel", new Dictionary<string, string> { ["preset"] = "reduced", ["embedding-batch-size"] = "100" }, seed: 1);
        var c = run.Get<MetaRl.Algorithms.Pearl.PearlConfig>();
        Assert.Equal((500, 100, 600, 2), (c.NumTrainStepsPerItr, c.EmbeddingBatchSize, c.NumExtraRlStepsPosterior, c.NumExpTrajEval));
        Assert.Equal([128, 128, 128], run.Common.HiddenSizes);

        // `reproduce pearl-point-robot --preset reduced` writes the preset's values into the run's config, in a directory of its own.
        var v = PearlReproduction.Values(new PearlReproduction.Options(1, Quick: false, "runs", Preset: PearlReproduction.Reduced));
        foreach (var (key, value) in MetaRl.Algorithms.Pearl.PearlConfig.ReducedPreset) Assert.Equal(value, v[key]);
        Assert.Equal("500", v["num-batches"]);
        Assert.DoesNotContain("hidden-sizes", PearlReproduction.Values(new PearlReproduction.Options(1, Quick: false, "runs")).Keys);
        var (code, _, err) = Run("reproduce", "pearl-point-robot", "--preset", "official-2020");
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains("--preset must be reduced for pearl-point-robot (got 'official-2020')", err);
        (code, _, err) = Run("reproduce", "maml-2d-navigation", "--preset", "reduced");
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains("--preset applies to varibad-gridworld and pearl-point-robot", err);
        // One seed per call: a second seed's report would overwrite the first's.
        (code, _, err) = Run("reproduce", "pearl-point-robot", "--seeds", "1,2", "--iterations", "1", "--out", Path.Combine(_root, "pearl-two-seeds"));
        Assert.Equal(global::MetaRl.Cli.Cli.UsageError, code);
        Assert.Contains("--seeds takes one seed for pearl-point-robot (got '1,2')", err);
    }

    [Fact]
    public void ANonFiniteLossStopsTheRunAndKeepsTheLastGoodCheckpoint()
    {
        string outDir = Path.Combine(_root, "nan");
        var (code, _, err) = Run("train", "vpg", "--iterations", "10", "--set", "lr=1e30", "--set", "checkpoint-every=1", "--set", "batch-size=4", "--out", outDir);
        Assert.Equal(global::MetaRl.Cli.Cli.RunFailed, code);
        Assert.Contains("training stopped", err);
        Assert.Contains("NaN", err);
        Assert.DoesNotContain("   at ", err);
        string dir = Directory.GetDirectories(Path.Combine(outDir, "vpg-2d-navigation")).Single();
        var run = Trainer.Load(RunDirectory.Open(dir));
        Assert.InRange(run.Iteration, 1, 9);
        Assert.All(run.Learner.Parameters.Values, p => Assert.True(p.isfinite().all().item<bool>()));
        Assert.Equal(run.Iteration + 1, File.ReadAllLines(Path.Combine(dir, RunDirectory.ProgressFile)).Length);
    }
}

public class ReproductionCliTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("metarl-repro-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void QuickPearlReproductionReportsEveryEpisodeOfContextBesideTheGoalKnownReturn()
    {
        var o = new StringWriter(); var e = new StringWriter();
        // Three evaluations of each goal instead of oyster's two (num-evals): every table below covers all three.
        int code = MetaRl.Cli.Cli.Run(["reproduce", "pearl-point-robot", "--quick", "--iterations", "2", "--num-evals", "3", "--out", _root], o, e);
        Assert.True(code == 0, e.ToString());
        string dir = Path.Combine(_root, "reproduce-pearl-point-robot-quick");
        string report = File.ReadAllText(Path.Combine(dir, "report.md"));
        // 5 exploration episodes, then 3, each beside the goal-known return
        Assert.Matches(@"\| 1 \| prior \| -?\d+\.\d\d ± \d+\.\d\d \| \d+% \| 1\d\.\d\d \| \d+% \|", report); // posterior sampling at its best beside it on held-out goals
        Assert.Matches(@"Posterior sampling at its best: episode 6 \d+%, episode 8 \d+%", report);
        Assert.Matches(@"\| 6 \| posterior of 5 episodes \| ", report);
        Assert.Matches(@"\| 8 \| posterior of 7 episodes \| ", report);
        Assert.DoesNotMatch(@"\| 9 \| ", report);
        Assert.Contains("## The bar", report);
        Assert.Contains("this run differs from it in batch-size 32 (oyster: 256), embedding-batch-size 64 (oyster: 1024)", report); // the quick mode's shrinking
        // Posterior sampling at its best, from the env's dynamics: about 13% of the half-circle per episode (more or less by where a goal lies), about half in 5.
        var ideal = System.Text.RegularExpressions.Regex.Match(report, @"reaches a goal with probability (\d+)% per episode and finds (\d+)% of the goals in 5 episodes");
        Assert.True(ideal.Success, report);
        Assert.InRange(int.Parse(ideal.Groups[1].Value), 10, 16);
        Assert.InRange(int.Parse(ideal.Groups[2].Value), 40, 60);
        Assert.Contains("10 goals per split and 3 evaluation seeds (num-evals)", report);
        // The split by whether exploration found the goal covers every goal-seed pair (10 goals, 3 seeds) of the same
        // episodes as the table: its successes after exploration are the table's episode-6 success on held-out goals.
        var split = System.Text.RegularExpressions.Regex.Match(report, @"on (\d+) of 30 \([^)]*\) held-out goal-seed pairs an exploration episode reached it; episode 6 succeeded on (?:(\d+) of \d+ \([^)]*\)|-) of those and on (?:(\d+) of \d+ \([^)]*\)|-) of the others");
        Assert.True(split.Success, report);
        int successes = (split.Groups[2].Success ? int.Parse(split.Groups[2].Value) : 0) + (split.Groups[3].Success ? int.Parse(split.Groups[3].Value) : 0);
        var episode6 = File.ReadAllLines(Path.Combine(dir, "adaptation.csv")).Select(l => l.Split(',')).Single(c => c[0] == "pearl" && c[1] == "test" && c[2] == "5");
        double success6 = double.Parse(episode6[6], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(success6, successes / 30.0, 9);
        // What the posterior makes of the context: on the same pairs where exploration reached the goal (the same episodes
        // as the split above), from the whole context and from its rewarded transitions; and from a goal-known episode on each of the 10 goals.
        var read = System.Text.RegularExpressions.Regex.Match(report, @"where exploration reached the goal, (?:(\d+) of (\d+) \([^)]*\)|-) succeed from the exploration's whole context and (?:(\d+) of (\d+) \([^)]*\)|-) from its rewarded transitions alone; from the context of one goal-known episode \(straight to the goal, then stay\), (\d+) of 10 \(");
        Assert.True(read.Success, report);
        int reached = int.Parse(split.Groups[1].Value);
        Assert.Equal(reached, read.Groups[2].Success ? int.Parse(read.Groups[2].Value) : 0);
        Assert.Equal(reached, read.Groups[4].Success ? int.Parse(read.Groups[4].Value) : 0);
        // The bar's readings with their binomial standard error over those 30 pairs.
        Assert.Contains(FormattableString.Invariant($"episode 6 {100 * success6:0}% (± {100 * Math.Sqrt(success6 * (1 - success6) / 30):0} points, "), report);
        Assert.Contains("(standard errors: binomial, over 30 goal-seed pairs)", report);
        // Across training: the checkpoint kept at iteration 1, then the latest, whose row is the main table's.
        var across = report.Split('\n').SkipWhile(l => !l.StartsWith("## Across training")).Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\| \d+ \|")).ToList();
        Assert.Equal(["1", "2"], across.Select(l => l.Split('|', StringSplitOptions.TrimEntries)[1]));
        var episode8 = File.ReadAllLines(Path.Combine(dir, "adaptation.csv")).Select(l => l.Split(',')).Single(c => c[0] == "pearl" && c[1] == "test" && c[2] == "7");
        string Percent(string[] csv) => $"{100 * double.Parse(csv[6], System.Globalization.CultureInfo.InvariantCulture):0}%";
        Assert.Equal([Percent(episode6), Percent(episode8)], across[1].Split('|', StringSplitOptions.TrimEntries)[3..5]);
        // ... and the latest row's context reading is the sentence's.
        string Of(int g) => read.Groups[g].Success ? $"{100 * ((double)int.Parse(read.Groups[g].Value) / int.Parse(read.Groups[g + 1].Value)):0}%" : "-";
        Assert.Equal($"{Of(1)} / {Of(3)}", across[1].Split('|', StringSplitOptions.TrimEntries)[6]);
        Assert.True(File.Exists(Path.Combine(dir, "pearl-seed1", "checkpoints", "iteration-1.bin")));
        Assert.True(new FileInfo(Path.Combine(dir, "posterior.png")).Length > 1000);
        Assert.True(new FileInfo(Path.Combine(dir, "adaptation-test.png")).Length > 1000);

        var e2 = new StringWriter();
        Assert.Equal(2, MetaRl.Cli.Cli.Run(["reproduce", "pearl-point-robot", "--quick", "--num-evals", "0", "--out", _root], new StringWriter(), e2));
        Assert.Contains("--num-evals must be >= 1 (got 0)", e2.ToString());
        Assert.Equal(2, MetaRl.Cli.Cli.Run(["reproduce", "varibad-gridworld", "--quick", "--num-evals", "3", "--out", _root], new StringWriter(), e2));
        Assert.Contains("--num-evals applies to pearl-point-robot", e2.ToString());
    }

    [Fact]
    public void PearlEvaluationSeedsKeepOystersTwoAndStayApartFromTheOtherDraws()
    {
        // The default's seeds are the ones every earlier report used, so those reports reproduce to the digit.
        Assert.Equal([Seeds.Evaluation(1, 1), Seeds.Evaluation(1, 2)], PearlReproduction.EvaluationSeeds(1, PearlReproduction.OysterNumEvals));
        var ten = PearlReproduction.EvaluationSeeds(1, 10);
        Assert.Equal(PearlReproduction.EvaluationSeeds(1, 2), ten[..2]);
        Assert.Equal(10, ten.Distinct().Count());
        // Streams 3 and 4 are the exploration-reach draws' and the exact posterior's.
        Assert.DoesNotContain(Seeds.Evaluation(1, 3), ten);
        Assert.DoesNotContain(Seeds.Evaluation(1, 4), ten);
        Assert.Throws<ArgumentOutOfRangeException>(() => PearlReproduction.EvaluationSeeds(1, 0));
    }

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void QuickVariBadReproductionReportsBothLearnersBesideTheExactReferences()
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = MetaRl.Cli.Cli.Run(["reproduce", "varibad-gridworld", "--quick", "--iterations", "3", "--out", _root], o, e);
        Assert.True(code == 0, e.ToString());
        string dir = Path.Combine(_root, "reproduce-varibad-gridworld-quick");
        string report = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("| Bayes-optimal (exact) | 4.00 | 11.07 | 11.07 | 11.07 | 37.21 |", report);
        Assert.Contains("| goal known (exact) | 11.07 |", report);
        foreach (var method in new[] { "varibad", "rl2" })
        {
            Assert.Matches($@"\| {method} \| -?\d+\.\d\d \|", report);
            Assert.Equal(4, File.ReadAllLines(Path.Combine(dir, $"{method}-seed1", RunDirectory.ProgressFile)).Length);
        }
        Assert.Contains("| (4, 4) | -1.50 |", report); // the goal the optimal search leaves to episode 2
        // The verdict on the paper's episode-1 claim is read from the main table's episode-1 returns.
        double EpisodeOne(string method) => double.Parse(report.Split('\n').First(l => l.StartsWith($"| {method} | ")).Split('|', StringSplitOptions.TrimEntries)[2], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(VariBadReproduction.EpisodeOneVerdict([("varibad", EpisodeOne("varibad")), ("rl2", EpisodeOne("rl2"))], 4.0), report);
        // No policy beats the best episode 2 from what its own first episode left: each method's is at most that.
        var second = report.Split('\n').SkipWhile(l => !l.StartsWith("## Episode 2 against what episode 1 left")).Where(l => l.StartsWith("| varibad |") || l.StartsWith("| rl2 |")).ToList();
        Assert.Equal(2, second.Count);
        foreach (var cells in second.Select(l => l.Split('|', StringSplitOptions.TrimEntries)))
        {
            double best = double.Parse(cells[3], System.Globalization.CultureInfo.InvariantCulture), own = double.Parse(cells[4], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(own <= best + 0.005, $"{cells[1]}: episode 2 {own} above the best possible {best}");
        }
        Assert.True(new FileInfo(Path.Combine(dir, "adaptation-test.png")).Length > 1000);

        // Across training: every kept checkpoint (quick mode keeps each) and the latest, whose row is the main table's.
        List<string> Across(string text) => text.Split('\n').SkipWhile(l => !l.StartsWith("## Across training")).Skip(1).TakeWhile(l => !l.StartsWith("## "))
            .Where(l => l.StartsWith("| varibad |") || l.StartsWith("| rl2 |")).ToList();
        var across = Across(report);
        Assert.Equal(["varibad 1", "varibad 2", "varibad 3", "rl2 1", "rl2 2", "rl2 3"], across.Select(l => string.Join(" ", l.Split('|', StringSplitOptions.TrimEntries)[1..3])));
        foreach (var method in new[] { "varibad", "rl2" })
        {
            Assert.True(File.Exists(Path.Combine(dir, $"{method}-seed1", "checkpoints", "iteration-2.bin")));
            var main = report.Split('\n').First(l => l.StartsWith($"| {method} | ")).Split('|', StringSplitOptions.TrimEntries)[2..6];
            Assert.Equal(main, across.Single(l => l.StartsWith($"| {method} | 3 |")).Split('|', StringSplitOptions.TrimEntries)[4..8]);
        }

        // --method evaluates one method alone: the runs are complete, so nothing trains, and its rows are the same.
        var o2 = new StringWriter();
        Assert.Equal(0, MetaRl.Cli.Cli.Run(["reproduce", "varibad-gridworld", "--quick", "--iterations", "3", "--method", "rl2", "--out", _root], o2, e));
        Assert.Contains("rl2: resuming at iteration 3", o2.ToString());
        Assert.DoesNotContain("varibad: resuming", o2.ToString());
        string alone = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.DoesNotContain("| varibad |", alone);
        Assert.Equal(across.Where(l => l.StartsWith("| rl2 |")), Across(alone));
        var e2 = new StringWriter();
        Assert.Equal(2, MetaRl.Cli.Cli.Run(["reproduce", "varibad-gridworld", "--quick", "--method", "pearl", "--out", _root], new StringWriter(), e2));
        Assert.Contains("--method must be one of: varibad, rl2 (got 'pearl')", e2.ToString());
        Assert.Equal(2, MetaRl.Cli.Cli.Run(["reproduce", "maml-2d-navigation", "--quick", "--method", "rl2", "--out", _root], new StringWriter(), e2));
        Assert.Contains("--method applies to varibad-gridworld", e2.ToString());

        // --preset official-2020: the 2020 configs' values written into each run's config, in a directory of their own, named in the report.
        Assert.Equal(0, MetaRl.Cli.Cli.Run(["reproduce", "varibad-gridworld", "--quick", "--iterations", "1", "--preset", "official-2020", "--out", _root], new StringWriter(), e));
        string dir2020 = Path.Combine(_root, "reproduce-varibad-gridworld-official-2020-quick");
        string varibad2020 = File.ReadAllText(Path.Combine(dir2020, "varibad-seed1", "config.yaml"));
        foreach (var line in new[] { "policy-entropy-coef: 0.1\n", "kl-weight: 1\n", "state-embedding-size: 32\n", "policy-eps: 1E-05\n", "num-batches: 1\n" })
            Assert.Contains(line, varibad2020);
        Assert.Contains("ent-coef: 0.1\n", File.ReadAllText(Path.Combine(dir2020, "rl2-seed1", "config.yaml")));
        Assert.Contains("policy-entropy-coef: 0.01\n", File.ReadAllText(Path.Combine(dir, "varibad-seed1", "config.yaml")));
        Assert.Contains("as they were on 2020-09-28", File.ReadAllText(Path.Combine(dir2020, "report.md")));
        Assert.Equal(2, MetaRl.Cli.Cli.Run(["reproduce", "varibad-gridworld", "--quick", "--preset", "paper", "--out", _root], new StringWriter(), e2));
        Assert.Contains("--preset must be official-2020 for varibad-gridworld (got 'paper')", e2.ToString());
    }

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void QuickReproductionRunsEndToEndAndResumes()
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = MetaRl.Cli.Cli.Run(["reproduce", "maml-2d-navigation", "--quick", "--out", _root], o, e);
        Assert.True(code == 0, e.ToString());
        string dir = Path.Combine(_root, "reproduce-maml-2d-navigation-quick");
        string report = File.ReadAllText(Path.Combine(dir, "report.md"));
        foreach (var method in new[] { "maml", "pretrain", "scratch", "oracle" }) Assert.Contains($"| {method} | test |", report);
        Assert.Contains("pytorch-maml-rl", report);
        foreach (var split in new[] { "train", "test", "ood" }) Assert.True(new FileInfo(Path.Combine(dir, $"adaptation-{split}.png")).Length > 1000);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(dir, "maml-seed1", RunDirectory.ProgressFile)).Length);

        // A second call finds the runs complete and only evaluates again.
        var o2 = new StringWriter();
        Assert.Equal(0, MetaRl.Cli.Cli.Run(["reproduce", "maml-2d-navigation", "--quick", "--out", _root], o2, e));
        Assert.Contains("resuming at iteration 3", o2.ToString());
        Assert.Equal(4, File.ReadAllLines(Path.Combine(dir, "maml-seed1", RunDirectory.ProgressFile)).Length);
    }
}
