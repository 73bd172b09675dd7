using System.Text.Json;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command AdviseCommand(TextWriter stdout)
    {
        var file = new Argument<string?>("scenario") { Description = "a scenario as YAML (field: value per line; see docs/guide.md)", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "print {\"setting\", \"family\", \"variant\", \"runner_up\", \"reasons\", \"caveats\", \"evidence\"} as JSON" };
        var evidence = new Option<string?>("--evidence") { Description = "a `metarl compare` output directory: cite its measured results for the recommended family and the runner-up" };
        var fieldOptions = Scenario.Fields.Keys.ToDictionary(k => k, k => new Option<string?>("--" + k.Replace('_', '-'))
            { Description = k == "description" ? "free text, echoed back" : $"{string.Join(" | ", Scenario.Fields[k])} (overrides the file's)" });
        var cmd = new Command("advise", "Which approach fits a problem, and why: multi-task RL or meta-RL, and which meta-RL family (MAML, RL2, PEARL) and variant, with the reasons and caveats (the guide's rubric)")
            { file, json, evidence };
        foreach (var o in fieldOptions.Values) cmd.Add(o);
        cmd.SetAction(p =>
        {
            var values = new Dictionary<string, string>();
            string? path = p.GetValue(file);
            if (path is not null)
            {
                if (!File.Exists(path)) throw new UsageException($"no scenario file '{path}'");
                values = Scenario.ReadYaml(File.ReadAllText(path));
            }
            foreach (var (field, option) in fieldOptions)
                if (p.GetValue(option) is { } v) values[field] = v;
            var scenario = Scenario.From(values);
            var advice = Advisor.Advise(scenario);
            string? evidenceDir = p.GetValue(evidence);
            var cited = evidenceDir is null ? [] : Evidence(evidenceDir, advice);
            if (p.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["setting"] = advice.Setting, ["family"] = advice.Family, ["variant"] = advice.Variant, ["runner_up"] = advice.RunnerUp,
                    ["reasons"] = advice.Reasons, ["caveats"] = advice.Caveats, ["evidence"] = cited, ["description"] = scenario.Description,
                }, new JsonSerializerOptions { WriteIndented = true }));
                return Ok;
            }
            if (scenario.Description is { } d) stdout.WriteLine($"Scenario: {d}");
            stdout.WriteLine($"Setting: {advice.Setting}");
            stdout.WriteLine(advice.Family is null ? $"Recommended: {advice.Variant} (a task-conditioned policy; no meta-learning needed)" : $"Recommended: {advice.Family}; variant: {advice.Variant}");
            if (advice.RunnerUp is not null) stdout.WriteLine($"Runner-up: {advice.RunnerUp}");
            stdout.WriteLine("Why:");
            foreach (var r in advice.Reasons) stdout.WriteLine($"  - {r}");
            if (advice.Caveats.Count > 0)
            {
                stdout.WriteLine("Caveats:");
                foreach (var c in advice.Caveats) stdout.WriteLine($"  - {c}");
            }
            if (cited.Count > 0)
            {
                stdout.WriteLine($"Measured ({evidenceDir}):");
                foreach (var e in cited) stdout.WriteLine($"  - {e}");
            }
            return Ok;
        });
        return cmd;
    }

    /// <summary>
    /// What a comparison measured for the methods of the recommended family and the runner-up: the held-out return after the
    /// first and the last episodes of experience, the drop to OOD tasks and the meta-training steps; and which method did best there.
    /// </summary>
    static List<string> Evidence(string dir, Advice advice)
    {
        string csv = Path.Combine(dir, "compare.csv"), costs = Path.Combine(dir, "costs.csv");
        if (!File.Exists(csv)) throw new UsageException($"--evidence: {dir} has no compare.csv (give a `metarl compare` output directory)");
        var points = MetaEvaluator.FromCsv(csv);
        var steps = File.Exists(costs)
            ? File.ReadLines(costs).Skip(1).Select(l => l.Split(',')).GroupBy(c => c[0]).ToDictionary(g => g.Key, g => g.Average(c => double.Parse(c[3], CultureInfo.InvariantCulture)))
            : [];
        var lines = new List<string>();
        var test = points.Where(p => p.Split == "test").ToList();
        foreach (var method in test.Select(p => p.Method).Distinct())
        {
            string? family = Advisor.FamilyOf(method);
            if (family is null || family != advice.Family && family != advice.RunnerUp) continue;
            var curve = test.Where(p => p.Method == method).OrderBy(p => p.Episodes).ToList();
            var first = curve.FirstOrDefault(p => p.Episodes > 0) ?? curve[0];
            var last = curve[^1];
            var ood = points.Where(p => p.Method == method && p.Split == "ood" && p.Episodes == last.Episodes).Select(p => p.MeanReturn).FirstOrDefault(double.NaN);
            lines.Add(FormattableString.Invariant($"{method} ({family}): held-out return {curve[0].MeanReturn:0.00} before adapting, {first.MeanReturn:0.00} after {first.Episodes} episode{(first.Episodes == 1 ? "" : "s")}, {last.MeanReturn:0.00} ± {last.Ci95:0.00} after {last.Episodes}")
                + (double.IsFinite(ood) ? FormattableString.Invariant($"; out of distribution {ood:0.00} (a drop of {last.MeanReturn - ood:0.00})") : "")
                + (steps.TryGetValue(method, out var s) ? FormattableString.Invariant($"; meta-trained on {s:N0} environment steps") : ""));
        }
        if (test.Count > 0)
        {
            int e = test.GroupBy(p => p.Method).Min(g => g.Max(p => p.Episodes));
            var best = test.Where(p => p.Episodes == e).MaxBy(p => p.MeanReturn)!;
            lines.Add(FormattableString.Invariant($"best held-out return after {e} episodes in that comparison: {best.Method} ({Advisor.FamilyOf(best.Method) ?? "other"}), {best.MeanReturn:0.00}")
                + (Advisor.FamilyOf(best.Method) is { } bf && bf != advice.Family && advice.Family is not null ? $": measured evidence that favours {bf} on that family, against the rubric's {advice.Family}" : ""));
        }
        return lines;
    }
}
