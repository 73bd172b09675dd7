namespace MetaRl.Experiments;

/// <summary>
/// The reference implementations' settings for a learner on a built-in task family, applied under a preset and
/// the user's own values, so that `metarl train maml --env halfcheetah-vel` runs pytorch-maml-rl's experiment.
/// Only the keys that differ from the learner's defaults are listed (those are already the references' values).
/// </summary>
public static class ReferenceSettings
{
    public sealed record Entry(string Source, IReadOnlyDictionary<string, string> Values);

    const string PmrLocomotion = "pytorch-maml-rl configs/maml/{0}.yaml (meta-batch-size 40; the rest are MAML's defaults)";
    const string ProMpLocomotion = "ProMP run_scripts/pro-mp_run_mujoco.py (meta_batch_size 40, n_itr 1001)";

    static readonly string[] Locomotion = ["halfcheetah-vel", "halfcheetah-dir", "ant-dir", "ant-dir-2d", "ant-goal"];
    static readonly string[] GradientLearners = ["maml", "fomaml", "reptile", "pretrain"];

    static readonly Dictionary<(string Algorithm, string Env), Entry> Table = Build();

    static Dictionary<(string, string), Entry> Build()
    {
        var table = new Dictionary<(string, string), Entry>();
        foreach (string env in Locomotion)
        {
            foreach (string algorithm in GradientLearners)
                table[(algorithm, env)] = new(string.Format(System.Globalization.CultureInfo.InvariantCulture, PmrLocomotion, env),
                    new Dictionary<string, string> { ["meta-batch-size"] = "40" });
            table[("promp", env)] = new(ProMpLocomotion, new Dictionary<string, string> { ["meta-batch-size"] = "40", ["num-batches"] = "1001" });
        }
        // RL2 on the two-direction half-cheetah: a trial of 2 episodes (the direction is found in the first, exploited
        // in the second); the rest are our RL2 laptop defaults (TRPO, 20,000 steps per update, 128 units).
        table[("rl2", "halfcheetah-dir")] = new("MetaRl (2 episodes per trial)", new Dictionary<string, string> { ["episodes-per-trial"] = "2" });
        table[("rl2", "halfcheetah-vel")] = new("MetaRl (2 episodes per trial)", new Dictionary<string, string> { ["episodes-per-trial"] = "2" });
        return table;
    }

    /// <summary>The reference settings of <paramref name="algorithm"/> on the family named <paramref name="env"/>, if any.</summary>
    public static Entry? For(string algorithm, string env) => Table.GetValueOrDefault((algorithm, env));
}
