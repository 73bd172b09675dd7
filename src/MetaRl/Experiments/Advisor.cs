using System.Globalization;

namespace MetaRl.Experiments;

/// <summary>A user's problem, in the fields of `metarl advise` (docs/guide.md, "Which approach fits").</summary>
public sealed record Scenario
{
    public required string TasksAtTest { get; init; }                  // same | new
    public required string TaskIdentityAtTest { get; init; }           // known | unknown
    public string? TestTimeGradientUpdates { get; init; }              // allowed | not_allowed
    public string? AdaptationLatency { get; init; }                    // realtime | seconds | minutes_or_more
    public bool? NeedsUncertainty { get; init; }
    public bool? SampleEfficiencyCritical { get; init; }
    public bool? OffPolicyDataAvailable { get; init; }
    public bool? TestTasksMayBeOutOfDistribution { get; init; }
    public int? NumTrainingTasks { get; init; }
    public string? MetaTrainingBudget { get; init; }                   // tight | ample: compute and time for meta-training
    public string? ActionSpace { get; init; }                          // continuous | discrete
    /// <summary>Discrete actions: the learners built on SAC's tanh-Gaussian actor (MT-SAC, PEARL) cannot take them.</summary>
    public bool DiscreteActions => ActionSpace == "discrete";
    public string? Description { get; init; }

    /// <summary>Every field with its allowed values (as the error for a bad one lists them).</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Fields = new Dictionary<string, string[]>
    {
        ["tasks_at_test"] = ["same", "new"],
        ["task_identity_at_test"] = ["known", "unknown"],
        ["test_time_gradient_updates"] = ["allowed", "not_allowed"],
        ["adaptation_latency"] = ["realtime", "seconds", "minutes_or_more"],
        ["needs_uncertainty"] = ["true", "false"],
        ["sample_efficiency_critical"] = ["true", "false"],
        ["off_policy_data_available"] = ["true", "false"],
        ["test_tasks_may_be_out_of_distribution"] = ["true", "false"],
        ["num_training_tasks"] = ["a positive integer"],
        ["meta_training_budget"] = ["tight", "ample"],
        ["action_space"] = ["continuous", "discrete"],
        ["description"] = ["free text"],
    };

    /// <summary>
    /// A scenario from field values (YAML's or the flags'): an unknown field, a value outside a field's allowed ones, a
    /// non-integer count or a missing required field is refused by a <see cref="UsageException"/> naming the field and its allowed values.
    /// </summary>
    public static Scenario From(IReadOnlyDictionary<string, string> values)
    {
        foreach (var key in values.Keys)
            if (!Fields.ContainsKey(key))
                throw new UsageException($"unknown scenario field '{key}'; the fields are: {string.Join(", ", Fields.Keys)}");
        string? Enum(string field)
        {
            if (!values.TryGetValue(field, out var v)) return null;
            v = v.Trim().ToLowerInvariant(); // YAML writes True as readily as true
            if (!Fields[field].Contains(v))
                throw new UsageException($"scenario field '{field}' must be one of {string.Join(", ", Fields[field])}; got '{v}'");
            return v;
        }
        bool? Bool(string field) => Enum(field) is { } v ? v == "true" : null;
        string Required(string field) => Enum(field) ?? throw new UsageException($"scenario field '{field}' is required ({string.Join(" or ", Fields[field])})");
        int? count = null;
        if (values.TryGetValue("num_training_tasks", out var n))
        {
            if (!int.TryParse(n.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int c) || c < 1)
                throw new UsageException($"scenario field 'num_training_tasks' must be a positive integer; got '{n.Trim()}'");
            count = c;
        }
        return new Scenario
        {
            TasksAtTest = Required("tasks_at_test"),
            TaskIdentityAtTest = Required("task_identity_at_test"),
            TestTimeGradientUpdates = Enum("test_time_gradient_updates"),
            AdaptationLatency = Enum("adaptation_latency"),
            NeedsUncertainty = Bool("needs_uncertainty"),
            SampleEfficiencyCritical = Bool("sample_efficiency_critical"),
            OffPolicyDataAvailable = Bool("off_policy_data_available"),
            TestTasksMayBeOutOfDistribution = Bool("test_tasks_may_be_out_of_distribution"),
            NumTrainingTasks = count,
            MetaTrainingBudget = Enum("meta_training_budget"),
            ActionSpace = Enum("action_space"),
            Description = values.GetValueOrDefault("description"),
        };
    }

    /// <summary>
    /// A scenario file: flat YAML, one `field: value` per line (comments after #, quotes around a value allowed); a
    /// line that is not a field is refused naming its line.
    /// </summary>
    public static Scenario FromYaml(string text) => From(ReadYaml(text));

    /// <summary>A scenario file's field values as written (checked by <see cref="From"/>), for a caller that merges other values in first.</summary>
    public static Dictionary<string, string> ReadYaml(string text)
    {
        var values = new Dictionary<string, string>();
        int number = 0;
        foreach (var raw in text.Replace("\r", "").Split('\n'))
        {
            number++;
            string line = raw.TrimEnd();
            string content = line.TrimStart().StartsWith("description", StringComparison.Ordinal) ? line : StripComment(line);
            if (content.Trim().Length == 0) continue;
            int colon = content.IndexOf(':');
            if (colon <= 0) throw new UsageException($"scenario line {number}: expected 'field: value', got '{line.Trim()}'");
            string key = content[..colon].Trim(), value = content[(colon + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' && value[^1] == '"' || value[0] == '\'' && value[^1] == '\'')) value = value[1..^1];
            if (!values.TryAdd(key, value)) throw new UsageException($"scenario field '{key}' is given twice (line {number})");
        }
        return values;
    }

    static string StripComment(string line)
    {
        int hash = line.IndexOf('#');
        return hash >= 0 ? line[..hash] : line;
    }
}

/// <summary>What `metarl advise` answers: the setting, the family (null for multi-task), its variant, the runner-up, the reasons (each naming its field) and the caveats.</summary>
public sealed record Advice(string Setting, string? Family, string Variant, string? RunnerUp, IReadOnlyList<string> Reasons, IReadOnlyList<string> Caveats);

/// <summary>
/// The decision rubric of docs/guide.md as code. First the setting: the training tasks again with their identity known is
/// multi-task RL (one task-conditioned policy); new tasks, or an identity the agent must infer, is meta-RL. Then, for
/// meta-RL, each field that bears on the choice moves the three families' scores (MAML: adapts by gradient steps;
/// RL2: by running a recurrent or in-context model; PEARL: by inferring a posterior over a task latent), a field that
/// rules a family out removes it, and the best score wins (ties in the order PEARL, RL2, MAML: the most sample-efficient
/// meta-training first); the runner-up is the next in the same order, never a family ruled out. Every score change is
/// a reason naming its field; a field left out moves no score and rules nothing out. Discrete actions rule out the
/// learners built on SAC's tanh-Gaussian actor (MT-SAC, PEARL): the probabilistic family is then variBAD, on-policy,
/// so sample efficiency and logged data no longer favour it.
/// </summary>
public static class Advisor
{
    public const string Maml = "MAML", Rl2 = "RL2", Pearl = "PEARL";

    public static Advice Advise(Scenario s)
    {
        var reasons = new List<string>();
        var caveats = new List<string>();
        bool ood = s.TestTasksMayBeOutOfDistribution == true;
        bool discrete = s.DiscreteActions;
        if (s.TasksAtTest == "same" && s.TaskIdentityAtTest == "known")
        {
            reasons.Add("tasks_at_test: same and task_identity_at_test: known: the policy is told which training task it faces, so nothing is left to adapt or infer: multi-task RL, one task-conditioned policy trained on every task (metarl train mt-ppo|mt-sac --suite ...)");
            string variant = "MT-PPO";
            if (discrete)
                reasons.Add("action_space: discrete: MT-PPO, since MT-SAC's tanh-Gaussian actor needs continuous actions" +
                    (s.OffPolicyDataAvailable == true || s.SampleEfficiencyCritical == true ? " (off_policy_data_available or sample_efficiency_critical would otherwise favour it)" : ""));
            else
            {
                if (s.ActionSpace == "continuous") reasons.Add("action_space: continuous: both MT-PPO and MT-SAC take it");
                if (s.OffPolicyDataAvailable == true) { variant = "MT-SAC"; reasons.Add("off_policy_data_available: true: MT-SAC learns from replayed (and logged) transitions; MT-PPO only from its own fresh ones"); }
                else if (s.SampleEfficiencyCritical == true) { variant = "MT-SAC"; reasons.Add("sample_efficiency_critical: true: MT-SAC, off-policy, reuses every transition many times"); }
            }
            if (s.NumTrainingTasks is >= 10) reasons.Add($"num_training_tasks: {s.NumTrainingTasks}: with many tasks their gradients are more likely to conflict: watch the logged cosines (metarl plot --conflict) and try gradient=pcgrad, and task-sampling if the tasks' data or rewards are unbalanced");
            caveats.Add("Negative transfer: check each task against a single-task policy on the same budget (metarl transfer); widen the network where the multi-task one falls behind (a capacity problem).");
            if (ood) caveats.Add("test_tasks_may_be_out_of_distribution: true does not fit this setting: a task the policy was not trained on has no identity to give it; if such tasks come, the problem is meta-RL (tasks_at_test: new).");
            return new Advice("multi-task", null, variant, null, reasons, caveats);
        }

        if (s.TasksAtTest == "same")
            reasons.Add("tasks_at_test: same but task_identity_at_test: unknown: the agent must work out which training task it is in from its experience: meta-RL (task inference over the training tasks)");
        else
            reasons.Add($"tasks_at_test: new: the test tasks are new draws from the training distribution, so the agent must adapt to each: meta-RL" +
                (s.TaskIdentityAtTest == "known" ? " (task_identity_at_test: known: if the identity is a description the policy can read, a policy conditioned on it may generalise without adapting: try multi-task training on it as the baseline)" : ""));

        var score = new Dictionary<string, double> { [Maml] = 0, [Rl2] = 0, [Pearl] = 0 };
        var ruledOut = new HashSet<string>();
        void Move(string family, double by, string reason) { score[family] += by; reasons.Add(reason); }

        if (s.ActionSpace == "continuous") reasons.Add("action_space: continuous: every family takes it, PEARL's off-policy SAC included");
        else if (discrete)
            reasons.Add("action_space: discrete: PEARL's off-policy SAC needs continuous actions, so the probabilistic family's member is variBAD (PPO, on-policy); MAML and RL2 take discrete actions as they are");

        if (s.TestTimeGradientUpdates == "not_allowed") { ruledOut.Add(Maml); reasons.Add("test_time_gradient_updates: not_allowed rules out MAML: it adapts by gradient steps at test time; RL2 and PEARL adapt by forward passes"); }
        else if (s.TestTimeGradientUpdates == "allowed") Move(Maml, 1, "test_time_gradient_updates: allowed: MAML's gradient steps are possible, and they keep improving with more data of the task");

        switch (s.AdaptationLatency)
        {
            case "realtime":
                ruledOut.Add(Maml);
                reasons.Add("adaptation_latency: realtime rules out MAML: a gradient step needs a batch of whole episodes first");
                Move(Rl2, 2, "adaptation_latency: realtime: RL2 adapts at every step (its hidden state or context is updated by each transition)");
                Move(Pearl, 1, "adaptation_latency: realtime: PEARL's posterior is a forward pass over the context (updated per transition or per episode)");
                break;
            case "seconds":
                Move(Rl2, 1, "adaptation_latency: seconds: RL2 and PEARL adapt by forward passes, within an episode or two");
                score[Pearl] += 1;
                break;
            case "minutes_or_more":
                Move(Maml, 1, "adaptation_latency: minutes_or_more: there is time for MAML's episodes and gradient steps");
                break;
        }

        if (s.NeedsUncertainty == true)
        {
            Move(Pearl, 3, "needs_uncertainty: true: the probabilistic family (PEARL, variBAD) keeps an explicit posterior over the task (its variance says how unsure it is); PEARL explores by sampling from it, variBAD acts on the whole belief");
            Move(Rl2, -1, "needs_uncertainty: true: RL2's belief is implicit in its hidden state (no variance to read)");
            score[Maml] -= 1;
        }
        if (s.SampleEfficiencyCritical == true)
        {
            if (discrete) reasons.Add("sample_efficiency_critical: true moves no score with action_space: discrete: the off-policy meta-learner, PEARL, needs continuous actions, and variBAD, RL2 and MAML all meta-train on-policy");
            else
            {
                Move(Pearl, 2, "sample_efficiency_critical: true: PEARL meta-trains off-policy (the PEARL paper reports 20-100x fewer meta-training samples than MAML and RL2)");
                score[Maml] -= 1; score[Rl2] -= 1;
            }
        }
        if (s.OffPolicyDataAvailable == true)
        {
            if (discrete) reasons.Add("off_policy_data_available: true moves no score with action_space: discrete: PEARL, the learner that uses such data, needs continuous actions; variBAD, RL2 and MAML need fresh on-policy episodes");
            else Move(Pearl, 2, "off_policy_data_available: true: PEARL's actor, critics and encoder learn from replayed transitions, logged ones included; MAML and RL2 need fresh on-policy episodes");
        }
        if (ood)
        {
            Move(Maml, 2, "test_tasks_may_be_out_of_distribution: true: MAML's gradient steps keep improving on a task however far it is from training (a consistent learner); a learned inference (RL2, PEARL) may fail outside what it was trained on");
            score[Rl2] -= 1; score[Pearl] -= 1;
            caveats.Add("The overlap assumption: every method here is meta-trained for the training distribution; measure the drop from held-out to out-of-distribution tasks before relying on it (metarl compare reports it per method).");
        }
        if (s.NumTrainingTasks is { } n)
        {
            if (n < 20) Move(Maml, 1, $"num_training_tasks: {n}: with few training tasks a black-box learner (RL2, PEARL's encoder) can memorise them (meta-overfitting); MAML's gradient step generalises from few");
            else if (n >= 100) Move(Rl2, 1, $"num_training_tasks: {n}: many tasks suit a recurrent or in-context learner, which learns its own adaptation from the task distribution");
        }

        var ranked = score.Where(kv => !ruledOut.Contains(kv.Key))
            .OrderByDescending(kv => kv.Value).ThenBy(kv => Array.IndexOf([Pearl, Rl2, Maml], kv.Key)).Select(kv => kv.Key).ToList();
        if (ranked.Count == 0) throw new InvalidOperationException("every family was ruled out"); // only MAML can be ruled out
        string family = ranked[0];
        string? runnerUp = ranked.Count > 1 ? ranked[1] : null;
        reasons.Add($"scores: {string.Join(", ", score.Select(kv => ruledOut.Contains(kv.Key) ? $"{kv.Key} ruled out" : FormattableString.Invariant($"{kv.Key} {kv.Value:+0;-0;0}")))}");
        if (ood && family != Maml) caveats.Add($"{family} was chosen although test tasks may be out of distribution: keep MAML's gradient steps (or fine-tuning) as the fallback for tasks the inference does not cover.");
        if (s.TestTimeGradientUpdates is null && family == Maml) caveats.Add("test_time_gradient_updates was not given: MAML assumes they are allowed.");
        return new Advice("meta-rl", family, Variant(family, s, reasons), runnerUp, reasons, caveats);
    }

    /// <summary>The member of the family that fits, with its reason.</summary>
    static string Variant(string family, Scenario s, List<string> reasons)
    {
        switch (family)
        {
            case Maml:
                if (s.SampleEfficiencyCritical == true) { reasons.Add("variant: ProMP, the gradient-based learner with the best sample efficiency here (sample_efficiency_critical: true)"); return "ProMP"; }
                if (s.MetaTrainingBudget == "tight")
                {
                    reasons.Add("variant: FOMAML, MAML without the second-order terms: each meta-update costs about one policy-gradient step (meta_training_budget: tight; Reptile is the other first-order choice)");
                    return "FOMAML (or Reptile)";
                }
                return "MAML-TRPO (FOMAML or Reptile where meta-training must be cheaper: meta_training_budget: tight)";
            case Rl2:
                if (s.NumTrainingTasks is >= 100 && s.MetaTrainingBudget != "tight")
                {
                    reasons.Add($"variant: the in-context learner (icl), a transformer over the trial, for many tasks (num_training_tasks: {s.NumTrainingTasks}) and a meta-training budget that is not tight (meta_training_budget: {s.MetaTrainingBudget ?? "not given"})");
                    return "in-context learner (icl)";
                }
                if (s.NumTrainingTasks is >= 100) reasons.Add("variant: RL2 rather than the in-context learner: a transformer costs more per step than a GRU (meta_training_budget: tight)");
                return "RL2 (the in-context transformer learner, icl, with 100 or more training tasks and a budget that is not tight)";
            default:
                if (s.DiscreteActions)
                {
                    reasons.Add("variant: variBAD, the probabilistic-context learner for discrete actions (action_space: discrete; PEARL needs continuous ones)");
                    return "variBAD";
                }
                if (s.NeedsUncertainty == true && s.AdaptationLatency == "realtime" && s.SampleEfficiencyCritical != true && s.OffPolicyDataAvailable != true)
                {
                    reasons.Add("variant: variBAD, whose belief is updated at every step and whose policy is trained to act Bayes-optimally on it, exploring within the first episode (needs_uncertainty: true, adaptation_latency: realtime)");
                    return "variBAD";
                }
                return "PEARL (variBAD where exploring within the first episode must be Bayes-optimal and on-policy training is affordable)";
        }
    }

    /// <summary>Which family a learner belongs to, for citing measured evidence.</summary>
    public static string? FamilyOf(string method) => method switch
    {
        "maml" or "fomaml" or "promp" or "reptile" => Maml,
        "rl2" or "icl" => Rl2,
        "pearl" or "varibad" => Pearl,
        _ => null,
    };
}
