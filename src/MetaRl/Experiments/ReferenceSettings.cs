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
        // PEARL: oyster's configs/<env>.json over its defaults. Episodes are the family's own length (our half-cheetah and
        // ant run MAML's 100 and 200 steps; oyster's locomotion 200). Two-direction families keep the default 100
        // training tasks: ours are drawn, and two drawn could be the same direction (oyster's two are fwd and back).
        const string Oyster = "oyster configs/{0}.json";
        void Pearl(string env, string config, params (string Key, string Value)[] values) =>
            table[("pearl", env)] = new(string.Format(System.Globalization.CultureInfo.InvariantCulture, Oyster, config), values.ToDictionary(v => v.Key, v => v.Value));
        Pearl("sparse-point-robot", "sparse-point-robot", ("num-train-tasks", "80"), ("num-initial-steps", "200"), ("num-tasks-sample", "10"),
            ("num-steps-prior", "100"), ("num-steps-posterior", "900"), ("num-extra-rl-steps-posterior", "0"), ("num-train-steps-per-itr", "1000"),
            ("embedding-batch-size", "1024"), ("gamma", "0.9"), ("reward-scale", "100"), ("kl-lambda", "1.0"), ("num-exp-traj-eval", "5"));
        Pearl("halfcheetah-vel", "cheetah-vel", ("num-train-tasks", "100"), ("num-extra-rl-steps-posterior", "600"), ("num-exp-traj-eval", "2"), ("embedding-batch-size", "100"));
        Pearl("halfcheetah-dir", "cheetah-dir", ("meta-batch", "4"), ("num-steps-prior", "1000"), ("num-extra-rl-steps-posterior", "1000"), ("num-exp-traj-eval", "2"), ("embedding-batch-size", "256"));
        Pearl("ant-dir", "ant-dir", ("meta-batch", "4"), ("num-extra-rl-steps-posterior", "600"), ("num-train-steps-per-itr", "4000"), ("num-exp-traj-eval", "2"), ("embedding-batch-size", "256"));
        Pearl("ant-goal", "ant-goal", ("num-train-tasks", "150"), ("meta-batch", "10"), ("num-extra-rl-steps-posterior", "600"), ("num-train-steps-per-itr", "4000"),
            ("num-exp-traj-eval", "2"), ("embedding-batch-size", "256"), ("kl-lambda", "1.0"));
        Pearl("walker-params", "walker_rand_params", ("num-train-tasks", "40"), ("use-next-obs-in-context", "true"), ("meta-batch", "10"), ("num-extra-rl-steps-posterior", "600"),
            ("num-train-steps-per-itr", "4000"), ("num-exp-traj-eval", "2"), ("embedding-batch-size", "100"));
        // variBAD: the official config/mujoco/args_<env>_varibad.py (lmzintgraf/varibad at 57e1795), the keys MetaRl has,
        // as changes to the cheetah-vel config; the run's length stays the learner's default (`--preset mujoco` is 1e8
        // frames). Not carried: ant-goal's orthogonal initialisation and annealed learning rate; walker's state decoder
        // (its config decodes states, not rewards; MetaRl's variBAD decodes rewards, with walker's reward-decoder layers);
        // the update's length: ours collects one whole trial per process, the official 400 steps for cheetah-vel (one
        // trial), 800 for cheetah-dir (two) and 200 for ant and walker (half a trial, the belief carried into the next).
        void VariBad(string env, string config, params (string Key, string Value)[] changes)
        {
            var values = new Dictionary<string, string>(MetaRl.Algorithms.VariBad.VariBadConfig.OfficialCheetahVel);
            foreach (var (key, value) in changes) values[key] = value;
            table[("varibad", env)] = new($"lmzintgraf/varibad config/mujoco/args_{config}_varibad.py", values);
        }
        VariBad("halfcheetah-vel", "cheetah_vel");
        VariBad("halfcheetah-dir", "cheetah_dir", ("ppo-num-epochs", "16"), ("ppo-num-minibatch", "4"));
        VariBad("ant-dir", "ant_dir", ("ppo-num-minibatch", "1"));
        VariBad("ant-dir-2d", "ant_dir", ("ppo-num-minibatch", "1"));
        VariBad("ant-goal", "ant_goal", ("norm-latent-for-policy", "false"), ("ppo-num-minibatch", "1"), ("ppo-clip-param", "0.05"), ("lr-policy", "0.001"),
            ("vae-subsample-elbos", "0"), ("vae-subsample-decodes", "0"), ("num-vae-updates", "5"), ("latent-dim", "10"));
        VariBad("walker-params", "walker", ("ppo-num-minibatch", "2"), ("ppo-clip-param", "0.05"), ("kl-weight", "1.0"), ("action-embedding-size", "32"),
            ("reward-embedding-size", "32"), ("latent-dim", "10"), ("reward-decoder-layers", "256,64"));
        return table;
    }

    /// <summary>The reference settings of <paramref name="algorithm"/> on the family named <paramref name="env"/>, if any.</summary>
    public static Entry? For(string algorithm, string env) => Table.GetValueOrDefault((algorithm, env));
}
