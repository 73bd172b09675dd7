using System.Diagnostics;
using System.Text.Json;
using MetaRl.Experiments;

namespace MetaRl.Tests.Cli;

public class CompareAndAdviseTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("metarl-compare-").FullName;

    public CompareAndAdviseTests() => MetaRl.Torch.TorchNative.EnsureLoaded();
    public void Dispose() => Directory.Delete(_root, recursive: true);

    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = MetaRl.Cli.Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    static JsonElement AdviseJson(params string[] fields)
    {
        var (code, output, err) = Run(["advise", "--json", .. fields]);
        Assert.True(code == 0, err);
        return JsonDocument.Parse(output).RootElement;
    }

    // The rubric's answers (docs/guide.md, "Which approach fits"), scenario by scenario.
    [Theory]
    [InlineData("same", "known", new string[0], "multi-task", null)]
    [InlineData("same", "unknown", new[] { "--needs-uncertainty", "true" }, "meta-rl", "PEARL")]
    [InlineData("new", "unknown", new[] { "--test-time-gradient-updates", "not_allowed", "--adaptation-latency", "realtime" }, "meta-rl", "RL2")]
    [InlineData("new", "unknown", new[] { "--test-time-gradient-updates", "allowed", "--adaptation-latency", "minutes_or_more", "--test-tasks-may-be-out-of-distribution", "true" }, "meta-rl", "MAML")]
    [InlineData("new", "unknown", new[] { "--sample-efficiency-critical", "true", "--off-policy-data-available", "true" }, "meta-rl", "PEARL")]
    [InlineData("new", "unknown", new[] { "--test-time-gradient-updates", "allowed", "--num-training-tasks", "8" }, "meta-rl", "MAML")]
    [InlineData("new", "known", new[] { "--adaptation-latency", "seconds", "--num-training-tasks", "500" }, "meta-rl", "RL2")]
    [InlineData("new", "unknown", new[] { "--needs-uncertainty", "true", "--action-space", "discrete" }, "meta-rl", "PEARL")]
    [InlineData("new", "unknown", new[] { "--sample-efficiency-critical", "true", "--adaptation-latency", "realtime", "--action-space", "discrete" }, "meta-rl", "RL2")]
    [InlineData("same", "known", new[] { "--off-policy-data-available", "true", "--action-space", "discrete" }, "multi-task", null)]
    [InlineData("new", "unknown", new[] { "--sample-efficiency-critical", "true", "--action-space", "continuous" }, "meta-rl", "PEARL")]
    public void TheRubricAnswersAsTheGuideSays(string tasks, string identity, string[] more, string setting, string? family)
    {
        var json = AdviseJson(["--tasks-at-test", tasks, "--task-identity-at-test", identity, .. more]);
        Assert.Equal(setting, json.GetProperty("setting").GetString());
        Assert.Equal(family, json.GetProperty("family").ValueKind == JsonValueKind.Null ? null : json.GetProperty("family").GetString());
        var reasons = json.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()!).ToList();
        // Every field given is named by a reason.
        foreach (var flag in more.Where(m => m.StartsWith("--", StringComparison.Ordinal)))
            Assert.Contains(reasons, r => r.Contains(flag[2..].Replace('-', '_'), StringComparison.Ordinal));
        if (family is not null) Assert.NotEqual(family, json.GetProperty("runner_up").GetString());
    }

    /// <summary>
    /// Scenarios written by someone else (Fixtures/advise-scenarios, README there): users' problems as YAML, each with the
    /// answer worked out by hand from docs/guide.md's rubric alone, without the code. The tool must give those answers.
    /// </summary>
    public static TheoryData<string> WrittenScenarios() =>
        new(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures", "advise-scenarios"), "*.yaml").Select(Path.GetFileNameWithoutExtension).Order()!);

    [Theory]
    [MemberData(nameof(WrittenScenarios))]
    public void ScenariosWrittenFromTheGuideAloneGetTheAnswersItImplies(string name)
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "advise-scenarios");
        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, name + ".expected.json"))).RootElement;
        var (code, output, err) = Run("advise", Path.Combine(dir, name + ".yaml"), "--json");
        Assert.True(code == 0, err);
        var actual = JsonDocument.Parse(output).RootElement;
        string? Field(JsonElement e, string key) => e.GetProperty(key).ValueKind == JsonValueKind.Null ? null : e.GetProperty(key).GetString();
        Assert.Equal(Field(expected, "setting")!, Field(actual, "setting"), ignoreCase: true);
        Assert.Equal(Field(expected, "family"), Field(actual, "family"));
        Assert.Equal(Field(expected, "runner_up"), Field(actual, "runner_up"));
        string variant = Field(expected, "variant")!, given = Field(actual, "variant")!;
        Assert.True(given == variant || given.StartsWith(variant + " (", StringComparison.Ordinal), $"variant: expected {variant}, got {given}");
    }

    [Theory]
    [InlineData("ample", "MAML-TRPO", "in-context learner (icl)")]
    [InlineData("tight", "FOMAML", "RL2")]
    public void ATightMetaTrainingBudgetPicksTheCheaperVariant(string budget, string maml, string rl2)
    {
        string Variant(params string[] fields) => AdviseJson(["--tasks-at-test", "new", "--task-identity-at-test", "unknown", "--meta-training-budget", budget, .. fields])
            .GetProperty("variant").GetString()!;
        Assert.StartsWith(maml + " (", Variant("--test-time-gradient-updates", "allowed", "--num-training-tasks", "8") + " (");
        Assert.StartsWith(rl2, Variant("--adaptation-latency", "realtime", "--num-training-tasks", "500"));
    }

    [Fact]
    public void DiscreteActionsNeverGetALearnerThatNeedsContinuousOnes()
    {
        // PEARL and MT-SAC act through SAC's tanh-Gaussian actor: `metarl train pearl --env gridworld` refuses. Every
        // combination of the fields that favour them, with discrete actions, and the same with continuous ones.
        foreach (var (tasks, identity) in new[] { ("same", "known"), ("new", "unknown") })
            foreach (var efficient in new[] { "true", "false" })
                foreach (var logged in new[] { "true", "false" })
                    foreach (var uncertain in new[] { "true", "false" })
                        foreach (var latency in new[] { "realtime", "seconds" })
                        {
                            Advice For(string actions) => Advisor.Advise(Scenario.From(new Dictionary<string, string>
                            {
                                ["tasks_at_test"] = tasks, ["task_identity_at_test"] = identity, ["sample_efficiency_critical"] = efficient,
                                ["off_policy_data_available"] = logged, ["needs_uncertainty"] = uncertain, ["adaptation_latency"] = latency, ["action_space"] = actions,
                            }));
                            var discrete = For("discrete");
                            Assert.DoesNotMatch("^(PEARL|MT-SAC)", discrete.Variant);
                            if (discrete.Family == Advisor.Pearl) Assert.Equal("variBAD", discrete.Variant);
                            Assert.Contains(discrete.Reasons, r => r.StartsWith("action_space: discrete", StringComparison.Ordinal));
                            // With continuous actions the off-policy learners come back where the fields favour them.
                            var continuous = For("continuous");
                            if (efficient == "true" || logged == "true")
                                Assert.Matches(tasks == "same" ? "^MT-SAC" : "^PEARL", continuous.Variant);
                        }
        var (code, _, err) = Run("advise", "--tasks-at-test", "new", "--task-identity-at-test", "unknown", "--action-space", "pixels");
        Assert.Equal(2, code);
        Assert.Contains("'action_space' must be one of continuous, discrete; got 'pixels'", err);
    }

    [Fact]
    public void RuledOutFamiliesAreNeverRecommendedNorRunnerUp()
    {
        // Every combination of the enum fields: MAML never comes back where gradients are not allowed or adaptation is real-time.
        foreach (var grad in new[] { "allowed", "not_allowed" })
            foreach (var latency in new[] { "realtime", "seconds", "minutes_or_more" })
                foreach (var ood in new[] { "true", "false" })
                    foreach (var uncertain in new[] { "true", "false" })
                    {
                        var advice = Advisor.Advise(Scenario.From(new Dictionary<string, string>
                        {
                            ["tasks_at_test"] = "new", ["task_identity_at_test"] = "unknown", ["test_time_gradient_updates"] = grad,
                            ["adaptation_latency"] = latency, ["test_tasks_may_be_out_of_distribution"] = ood, ["needs_uncertainty"] = uncertain,
                        }));
                        bool mamlOut = grad == "not_allowed" || latency == "realtime";
                        if (mamlOut) { Assert.NotEqual(Advisor.Maml, advice.Family); Assert.NotEqual(Advisor.Maml, advice.RunnerUp); }
                        if (ood == "true") Assert.Contains(advice.Caveats, c => c.Contains("overlap", StringComparison.Ordinal));
                    }
    }

    [Fact]
    public void ScenarioFilesAndFlagsCombineAndBadFieldsAreRefusedNamingTheField()
    {
        string file = Path.Combine(_root, "scenario.yaml");
        File.WriteAllText(file, "# a comment\ntasks_at_test: new   # new goals\ntask_identity_at_test: unknown\nneeds_uncertainty: true\ndescription: \"a robot: # keeps this\"\n");
        var (code, output, err) = Run("advise", file, "--json", "--needs-uncertainty", "false", "--adaptation-latency", "realtime");
        Assert.True(code == 0, err);
        var json = JsonDocument.Parse(output).RootElement;
        Assert.Equal("RL2", json.GetProperty("family").GetString()); // the flag's needs_uncertainty false wins over the file's true
        Assert.Equal("a robot: # keeps this", json.GetProperty("description").GetString());

        foreach (var (yaml, field, allowed) in new[]
        {
            ("tasks_at_test: new\ntask_identity_at_test: unknown\ncolour: red\n", "colour", "tasks_at_test"),
            ("tasks_at_test: new\ntask_identity_at_test: maybe\n", "task_identity_at_test", "known, unknown"),
            ("tasks_at_test: new\ntask_identity_at_test: known\nnum_training_tasks: many\n", "num_training_tasks", "positive integer"),
            ("tasks_at_test: new\ntask_identity_at_test: known\nneeds_uncertainty: yes\n", "needs_uncertainty", "true, false"),
            ("task_identity_at_test: known\n", "tasks_at_test", "same or new"),
        })
        {
            File.WriteAllText(file, yaml);
            var (c, _, e) = Run("advise", file);
            Assert.Equal(2, c);
            Assert.Contains(field, e);
            Assert.Contains(allowed, e);
            Assert.Single(e.Trim().Split('\n'));
        }
    }

    /// <summary>
    /// A small comparison end to end: two methods trained on the same seed and step budget, the report with all three
    /// splits, and the HTML opened in headless Chromium (Debian's package) with its sections and figures there.
    /// </summary>
    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void CompareTrainsEvaluatesAndItsHtmlReportOpensInChromiumWithItsFigures()
    {
        string outDir = Path.Combine(_root, "cmp");
        var (code, output, err) = Run("compare", "--env", "2d-navigation", "--methods", "maml,rl2", "--seeds", "1", "--env-steps", "6000", "--minutes", "0",
            "--adapt-episodes", "2", "--tasks", "3", "--out", outDir,
            "--set", "maml.fast-batch-size=2", "--set", "maml.meta-batch-size=3", "--set", "rl2.episodes-per-trial=2", "--set", "rl2.batch-size=2000", "--set", "rl2.hidden-size=16");
        Assert.True(code == 0, err);
        Assert.Contains("## Held-out test tasks", output);
        var costs = File.ReadAllLines(Path.Combine(outDir, "costs.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(["maml", "rl2"], costs.Select(c => c[0]));
        Assert.All(costs, c => Assert.True(long.Parse(c[3]) >= 6000 && c[5] == "environment steps", string.Join(",", c)));
        var points = MetaRl.Evaluation.MetaEvaluator.FromCsv(Path.Combine(outDir, "compare.csv"));
        Assert.Equal(["ood", "test", "train"], points.Select(p => p.Split).Distinct().Order());
        // One axis of episodes: MAML's one step of 2 episodes sits at e = 2, beside RL2's second episode.
        Assert.Contains(points, p => p.Method == "maml" && p.Episodes == 2);
        Assert.Contains(points, p => p.Method == "rl2" && p.Episodes == 1);

        string html = Path.Combine(outDir, "report.html");
        Assert.True(Process.Start("bash", ["-c", "command -v chromium"]) is { } which && which.WaitForExit(10_000) && which.ExitCode == 0,
            "chromium is missing: run scripts/ensure-chromium.sh (sudo apt-get install -y chromium)");
        string dom = Chromium(["--dump-dom", $"file://{html}"]);
        foreach (string section in new[] { "Meta-training tasks", "Held-out test tasks", "Out-of-distribution tasks", "The overlap assumption", "Sample efficiency", "Meta-training cost" })
            Assert.Contains($">{section}", dom);
        Assert.Equal(4, System.Text.RegularExpressions.Regex.Matches(dom, "<img [^>]*src=\"data:image/png;base64,").Count); // three splits and the efficiency figure
        Assert.DoesNotContain("missing figure", dom);
        // The page as drawn: a screenshot with the figures' colours in it, not a blank page.
        string shot = Path.Combine(outDir, "shot.png");
        Chromium([$"--screenshot={shot}", "--window-size=1000,2600", $"file://{html}"]);
        using var bitmap = SkiaSharp.SKBitmap.Decode(shot);
        int coloured = 0;
        for (int y = 0; y < bitmap.Height; y += 4)
            for (int x = 0; x < bitmap.Width; x += 4)
            {
                var c = bitmap.GetPixel(x, y);
                if (Math.Max(c.Red, Math.Max(c.Green, c.Blue)) - Math.Min(c.Red, Math.Min(c.Green, c.Blue)) > 60) coloured++; // saturated: a curve or a band
            }
        Assert.True(coloured > 200, $"{coloured} coloured pixels in the screenshot");
    }

    [Fact]
    public void TheSampleEfficiencyTableCountsStepsToTheTargetAsByHand()
    {
        EfficiencyPoint P(string m, int seed, int k, long steps, double r) => new(m, seed, k, 100, k, steps, r, 0);
        var points = new List<EfficiencyPoint>
        {
            P("a", 1, 0, 0, -10), P("a", 1, 1, 100, -6), P("a", 1, 2, 200, -2),
            P("a", 2, 0, 0, -10), P("a", 2, 1, 110, -4), P("a", 2, 2, 205, -3),
            P("b", 1, 0, 0, -12), P("b", 1, 1, 100, -11), P("b", 1, 2, 200, -9),
            P("b", 2, 0, 0, -12), P("b", 2, 1, 100, -12), P("b", 2, 2, 200, -8),
        };
        var curves = SampleEfficiency.Curves(points);
        Assert.Equal([-10, -5, -2.5], curves.Where(c => c.Method == "a").Select(c => c.Return));
        Assert.Equal([0L, 105, 202], curves.Where(c => c.Method == "a").Select(c => c.EnvSteps));
        // The highest return both methods reached: b's best mean, -8.5.
        Assert.Equal(-8.5, SampleEfficiency.DefaultTarget(points), 10);
        var rows = SampleEfficiency.ToReach(points, ["a", "b"], [1, 2], -6.75);
        Assert.Equal([100L, 110L], rows[0].PerSeed.Select(s => s!.Value));
        Assert.Equal(105, rows[0].Mean);
        Assert.Equal([null, null], rows[1].PerSeed);
        string section = SampleEfficiency.Section(points, ["a", "b"], [1, 2], -6.75, "efficiency.png");
        Assert.Contains("**-6.75**", section);
        Assert.Contains("| a | 2 of 2 | 105 (100 - 110) | 1.0x | -2.50 (at 202) |", section);
        Assert.Contains("| b | 0 of 2 | not within 200 | — | -8.50 (at 200) |", section);
        // By default (-8.5): a's seeds at 100 and 110, b's second seed alone at 200 (its first ends at -9).
        section = SampleEfficiency.Section(points, ["a", "b"], [1, 2], null, null);
        Assert.Contains("**-8.50**", section);
        Assert.Contains("| b | 1 of 2 | 200 (200 - 200) | — |", section);
        // A target of one's own: -9 both of b's seeds reach at 200 (1.9 times a's 105); -8.5 only the second.
        Assert.Contains("| b | 2 of 2 | 200 (200 - 200) | 1.9x |", SampleEfficiency.Section(points, ["a", "b"], [1, 2], -9, null));
        Assert.Contains("| b | 1 of 2 | 200 (200 - 200) | — |", SampleEfficiency.Section(points, ["a", "b"], [1, 2], -8.5, null));
    }

    /// <summary>
    /// The held-out evaluations during meta-training leave the training untouched (every method's progress.csv as without
    /// them), land at every milestone and before the first iteration, and survive an interruption: a comparison resumed
    /// from its runs' checkpoints has the same efficiency.csv as one that ran straight through.
    /// </summary>
    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public void EvaluationsDuringMetaTrainingLeaveTheTrainingAsItWasAndResumeExactly()
    {
        string[] tiny = ["--set", "maml.fast-batch-size=2", "--set", "maml.meta-batch-size=2", "--set", "maml.hidden-sizes=8",
            "--set", "rl2.episodes-per-trial=2", "--set", "rl2.batch-size=400", "--set", "rl2.hidden-size=8",
            "--set", "icl.episodes-per-trial=2", "--set", "icl.batch-size=400", "--set", "icl.model-size=8", "--set", "icl.heads=2",
            "--set", "varibad.num-processes=2", "--set", "varibad.max-rollouts-per-task=1", "--set", "varibad.precollect-len=200", "--set", "varibad.vae-batch-num-trajs=2",
            "--set", "pearl.hidden-sizes=8", "--set", "pearl.encoder-hidden-sizes=8", "--set", "pearl.num-train-tasks=4", "--set", "pearl.num-initial-steps=100",
            "--set", "pearl.num-tasks-sample=2", "--set", "pearl.num-steps-prior=100", "--set", "pearl.num-steps-posterior=0", "--set", "pearl.num-extra-rl-steps-posterior=100",
            "--set", "pearl.num-train-steps-per-itr=2", "--set", "pearl.meta-batch=2", "--set", "pearl.batch-size=8", "--set", "pearl.embedding-batch-size=8"];
        const string methods = "maml,rl2,icl,varibad,pearl";
        (int, string, string) Compare(string dir, string steps, string every) =>
            Run(["compare", "--env", "2d-navigation", "--methods", methods, "--seeds", "2", "--env-steps", steps, "--minutes", "0", "--adapt-episodes", "1", "--tasks", "2",
                "--eval-every", every, "--out", Path.Combine(_root, dir), .. tiny]);
        var (code, _, err) = Compare("plain", "1600", "0");
        Assert.True(code == 0, err);
        (code, var output, err) = Compare("evaluated", "1600", "400");
        Assert.True(code == 0, err);
        Assert.Contains("## Sample efficiency", output);
        foreach (string m in methods.Split(','))
        {
            string Progress(string dir) => File.ReadAllText(Path.Combine(_root, dir, "runs", m, "seed2", RunDirectory.ProgressFile));
            Assert.Equal(Progress("plain"), Progress("evaluated"));
            var points = SampleEfficiency.Read(Path.Combine(_root, "evaluated", "runs", m, "seed2", SampleEfficiency.FileName));
            Assert.Equal(0, points[0].EnvSteps); // the untrained learner
            Assert.True(points.Count >= 3, $"{m}: {points.Count} evaluations");
            Assert.All(points.Zip(points.Skip(1)), pair => Assert.True(pair.Second.Milestone > pair.First.Milestone && pair.Second.EnvSteps >= pair.Second.Milestone * 400L));
            Assert.All(points, p => Assert.True(double.IsFinite(p.Return)));
        }
        // The comparison's runs compared again by --runs (a report over runs of several comparisons): their efficiency
        // points and what stopped them come along (this crashed on the text of compare_stopped_by).
        var runDirs = methods.Split(',').Select(m => Path.Combine(_root, "evaluated", "runs", m, "seed2")).ToArray();
        (code, output, err) = Run(["compare", "--env", "2d-navigation", "--methods", methods, "--seeds", "2", "--adapt-episodes", "1", "--tasks", "2",
            "--out", Path.Combine(_root, "again"), "--runs", .. runDirs]);
        Assert.True(code == 0, err);
        Assert.Contains("## Sample efficiency", output);
        Assert.All(File.ReadAllLines(Path.Combine(_root, "again", "costs.csv")).Skip(1), line => Assert.Contains(",environment steps,", line));
        Assert.Equal(File.ReadAllLines(Path.Combine(_root, "evaluated", SampleEfficiency.FileName)), File.ReadAllLines(Path.Combine(_root, "again", SampleEfficiency.FileName)));

        // Interrupted at half the budget, then resumed to the whole: the same points as straight through.
        (code, _, err) = Compare("resumed", "800", "400");
        Assert.True(code == 0, err);
        (code, _, err) = Compare("resumed", "1600", "400");
        Assert.True(code == 0, err);
        foreach (string m in methods.Split(','))
            Assert.Equal(File.ReadAllText(Path.Combine(_root, "evaluated", "runs", m, "seed2", SampleEfficiency.FileName)),
                File.ReadAllText(Path.Combine(_root, "resumed", "runs", m, "seed2", SampleEfficiency.FileName)));
        // Another interval on the interrupted runs is refused: their milestones would not line up.
        (code, _, err) = Compare("resumed", "2400", "300");
        Assert.Equal(2, code);
        Assert.Contains("--eval-every 400", err);
    }

    [Fact]
    public void TheHtmlReportInlinesItsFiguresAndKeepsTheMarkdownsStructure()
    {
        File.WriteAllBytes(Path.Combine(_root, "fig.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        string html = HtmlReport.FromMarkdown("# Title\n\nSome `code` and **bold** <script>.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![a figure](fig.png)\n\n![gone](nothing.png)\n\n- one\n- two\n",
            "T", _root);
        Assert.Contains("<h1 id=\"title\">Title</h1>", html);
        Assert.Contains("<code>code</code>", html);
        Assert.Contains("<strong>bold</strong>", html);
        Assert.Contains("&lt;script&gt;", html); // text is escaped, not run
        Assert.Contains("<tr><th>a</th><th>b</th></tr>", html);
        Assert.Contains("<tr><td>1</td><td>2</td></tr>", html);
        Assert.DoesNotContain("---", html);
        Assert.Contains($"src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(Path.Combine(_root, "fig.png")))}\"", html);
        Assert.Contains("[missing figure nothing.png]", html);
        Assert.Contains("<li>two</li>", html);
        Assert.DoesNotContain("src=\"fig.png", html); // nothing refers to a file outside the page
    }

    [Fact]
    public void CompareRefusesRunsOfAnotherEnvOrSeedNamingThem()
    {
        var (code, _, err) = Run("train", "maml", "--env", "2d-navigation", "--seed", "4", "--iterations", "1", "--out", _root,
            "--set", "fast-batch-size=2", "--set", "meta-batch-size=2");
        Assert.True(code == 0, err);
        string run = Directory.GetDirectories(Path.Combine(_root, "maml-2d-navigation")).Single();
        (code, _, err) = Run("compare", "--env", "sparse-point-robot", "--methods", "maml", "--seeds", "4", "--runs", run);
        Assert.Equal(2, code);
        Assert.Contains(run, err);
        Assert.Contains("2d-navigation", err);
        (code, _, err) = Run("compare", "--env", "2d-navigation", "--methods", "maml", "--seeds", "1", "--runs", run);
        Assert.Equal(2, code);
        Assert.Contains(run, err);
        Assert.Contains("seed 4", err);
        (code, _, err) = Run("compare", "--env", "2d-navigation", "--methods", "maml,rl2", "--seeds", "4", "--runs", run);
        Assert.Equal(2, code);
        Assert.Contains("rl2 seed 4", err);
        (code, _, err) = Run("compare", "--methods", "ppo");
        Assert.Equal(2, code);
        Assert.Contains("meta-learners", err);
    }

    static string Chromium(string[] args)
    {
        var start = new ProcessStartInfo("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", .. args])
            { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), "chromium did not finish in 2 minutes");
        return stdout.Result;
    }
}
