using System.Diagnostics;
using MetaRl.Envs.Mujoco;
using MetaRl.Envs.Navigation;
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
        using var sampler = new Sampler(dist);
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

    /// <summary>
    /// Seconds per MAML-TRPO meta-iteration with the reference settings on 2D navigation (20 tasks x 20
    /// episodes x 100 steps, one inner step, TRPO outer step): the median of the timed iterations after one
    /// warm-up, against pytorch-maml-rl's 16.5 s measured on this machine (shared/reference/peers.md).
    /// </summary>
    public static void Maml(TextWriter stdout, int iterations, int threads)
    {
        if (iterations < 1) throw new UsageException("--iterations must be >= 1");
        var run = new TrainingRun("maml", "2d-navigation", new Dictionary<string, string>(), seed: 1);
        run.RunIteration(); // warm-up: JIT, allocator, first-touch memory
        var seconds = TimeIterations(run, iterations);
        double median = seconds[seconds.Count / 2];
        stdout.WriteLine($"maml: MAML-TRPO, 2d-navigation, 20 tasks x 20 episodes x 100 steps, 1 inner step, TRPO (cg-iters 10), {threads} libtorch thread(s)");
        stdout.WriteLine($"seconds per meta-iteration: median {median:0.00} (min {seconds[0]:0.00}, max {seconds[^1]:0.00}) over {iterations} iterations after a warm-up");
        stdout.WriteLine($"pytorch-maml-rl on this machine: 16.5 s; ratio {16.5 / median:0.0}x faster (bar: 5x, i.e. <= 3.3 s)");
    }

    /// <summary>
    /// PEARL's cost with oyster's settings (the reference settings of each family): the first iteration's collection
    /// (initial steps for every training task, then one iteration's episodes) fills the buffers, then single gradient
    /// steps are timed (the median after two warm-ups), and one iteration's collection alone; seconds per iteration =
    /// collection + num-train-steps-per-itr x step.
    /// </summary>
    public static void Pearl(TextWriter stdout, int steps, int threads, string env)
    {
        if (steps < 1) throw new UsageException("--iterations must be >= 1");
        int stepsPerIteration;
        using (var reference = new TrainingRun("pearl", env, new Dictionary<string, string>(), seed: 1)) stepsPerIteration = reference.Get<Algorithms.Pearl.PearlConfig>().NumTrainStepsPerItr;
        var run = new TrainingRun("pearl", env, new Dictionary<string, string> { ["num-train-steps-per-itr"] = "1" }, seed: 1);
        var learner = (Algorithms.Pearl.Pearl)run.Learner;
        var c = run.Get<Algorithms.Pearl.PearlConfig>();
        run.RunIteration(); // initial collection, one iteration's episodes, one step
        var collect = Stopwatch.StartNew();
        run.RunIteration(); // one iteration's collection and one step
        double collection = collect.Elapsed.TotalSeconds;
        var seconds = new List<double>();
        for (int i = 0; i < steps + 2; i++)
        {
            var clock = Stopwatch.StartNew();
            learner.TakeGradientStep();
            if (i >= 2) seconds.Add(clock.Elapsed.TotalSeconds);
        }
        seconds.Sort();
        double step = seconds[seconds.Count / 2];
        stdout.WriteLine(FormattableString.Invariant($"pearl on {env}: oyster's settings (meta-batch {c.MetaBatch}, RL batch {c.BatchSize}, context batch {c.EmbeddingBatchSize}, {string.Join("x", run.Common.HiddenSizes)} networks, encoder {string.Join("x", c.EncoderHiddenSizes)}), {threads} libtorch thread(s)"));
        stdout.WriteLine(FormattableString.Invariant($"seconds per gradient step: median {step:0.000} (min {seconds[0]:0.000}, max {seconds[^1]:0.000}) over {steps} steps"));
        stdout.WriteLine(FormattableString.Invariant($"one iteration's collection (and one step): {collection:0.00} s"));
        stdout.WriteLine(FormattableString.Invariant($"seconds per iteration ({stepsPerIteration} gradient steps): about {collection + stepsPerIteration * step:0} s"));
    }

    /// <summary>
    /// PCGrad's cost: seconds per MT-PPO update (the epochs of minibatch steps on one batch, collection excluded) with
    /// the plain summed gradient (no conflict measurement) and with PCGrad (per-task gradients of the shared weights in
    /// one backward pass, the projections, their sum), and GradNorm beside them; the updates alternate between the
    /// learners, so that both meet the same machine load; medians after a warm-up.
    /// </summary>
    public static void MultiTask(TextWriter stdout, int rounds, string suite, IReadOnlyDictionary<string, string> values)
    {
        if (rounds < 1) throw new UsageException("--iterations must be >= 1");
        string[] modes = ["sum", "pcgrad", "gradnorm"];
        var learners = modes.Select(m =>
        {
            var v = new Dictionary<string, string>(values) { ["gradient"] = m, ["conflict-every"] = "0" };
            return (Algorithms.MultiTask.MtPpo)new TrainingRun("mt-ppo", suite, v, seed: 1).Learner;
        }).ToList();
        var batches = learners.Select(l => l.CollectBatch()).ToList();
        var seconds = modes.Select(_ => new List<double>()).ToList();
        for (int round = 0; round < rounds + 1; round++)
            for (int m = 0; m < modes.Length; m++)
            {
                var clock = Stopwatch.StartNew();
                learners[m].UpdateFrom(batches[m]);
                if (round > 0) seconds[m].Add(clock.Elapsed.TotalSeconds);
            }
        var median = seconds.Select(s => { s.Sort(); return s[s.Count / 2]; }).ToList();
        var l0 = learners[0];
        stdout.WriteLine(FormattableString.Invariant($"mt-ppo on {suite} ({l0.Suite.TaskCount} tasks, {batches[0].Steps} steps per batch, {l0.Policy.Parameters.NumScalars:N0} policy parameters), one libtorch thread; medians of {rounds} updates each, alternating"));
        for (int m = 0; m < modes.Length; m++)
            stdout.WriteLine(FormattableString.Invariant($"  gradient {modes[m],-8}: {median[m]:0.000} s per update ({median[m] / median[0]:0.00}x the plain sum)"));
    }

    /// <summary>Seconds of each of <paramref name="iterations"/> training iterations, sorted.</summary>
    static List<double> TimeIterations(TrainingRun run, int iterations)
    {
        var seconds = new List<double>();
        for (int i = 0; i < iterations; i++)
        {
            var clock = Stopwatch.StartNew();
            run.RunIteration();
            seconds.Add(clock.Elapsed.TotalSeconds);
        }
        seconds.Sort();
        return seconds;
    }

    /// <summary>Seconds per variBAD update with the official grid-world settings: a rollout of 16 trials of 4 x 15 steps, the PPO update and 3 VAE updates; the median after the precollection and one warm-up.</summary>
    public static void VariBad(TextWriter stdout, int iterations, int threads)
    {
        if (iterations < 1) throw new UsageException("--iterations must be >= 1");
        var run = new TrainingRun("varibad", "gridworld", new Dictionary<string, string>(), seed: 1);
        run.RunIteration(); // precollection, JIT
        run.RunIteration();
        var seconds = TimeIterations(run, iterations);
        double median = seconds[seconds.Count / 2];
        stdout.WriteLine($"varibad on gridworld: the official grid-world settings (16 trials x 60 steps, PPO 2 x 4 minibatches, 3 VAE updates on 25 trials), {threads} libtorch thread(s)");
        stdout.WriteLine(FormattableString.Invariant($"seconds per update (rollout + PPO + VAE): median {median:0.000} (min {seconds[0]:0.000}, max {seconds[^1]:0.000}) over {iterations} updates; 2e7 frames = {VariBadReproduction.PaperUpdates} updates, about {median * VariBadReproduction.PaperUpdates / 60:0} min"));
    }

    /// <summary>
    /// Seconds per RL2 PPO update at the MDP table's n = 10 setting (200 trials of 100 steps, layer-norm policy
    /// and value GRUs of 128 units, 4 epochs of 4 minibatches) with the fused recurrence and with autograd's op by
    /// op (fused-gru=false), updates of the two runs alternating so that a drift in the machine's speed hits both.
    /// </summary>
    public static void Rl2(TextWriter stdout, int iterations, int threads)
    {
        if (iterations < 1) throw new UsageException("--iterations must be >= 1");
        var setting = Rl2Reproduction.MdpTable.Single(s => s.Label == "n=10").Training;
        TrainingRun Run(bool fused) => new("rl2", "tabular-mdp", new Dictionary<string, string>(setting) { ["fused-gru"] = fused ? "true" : "false" }, seed: 1);
        var runs = new[] { Run(true), Run(false) };
        foreach (var run in runs) run.RunIteration(); // warm-up: JIT, allocator, the fused path's buffers
        var seconds = new[] { new List<double>(), new List<double>() };
        for (int i = 0; i < iterations; i++)
            for (int r = 0; r < 2; r++)
            {
                var clock = Stopwatch.StartNew();
                runs[r].RunIteration();
                seconds[r].Add(clock.Elapsed.TotalSeconds);
            }
        double Median(List<double> x) { x.Sort(); return x[x.Count / 2]; }
        double fused = Median(seconds[0]), opByOp = Median(seconds[1]);
        stdout.WriteLine($"rl2: PPO update, tabular-mdp n = 10 (200 trials x 100 steps, layer-norm policy and value GRUs of 128 units, 4 epochs x 4 minibatches), {threads} libtorch thread(s)");
        stdout.WriteLine($"seconds per update: fused {fused:0.00} (min {seconds[0][0]:0.00}, max {seconds[0][^1]:0.00}), op by op {opByOp:0.00} (min {seconds[1][0]:0.00}, max {seconds[1][^1]:0.00}), medians over {iterations} updates each after a warm-up");
        stdout.WriteLine($"op by op / fused: {opByOp / fused:0.00}");
    }

    /// <summary>
    /// MuJoCo throughput on the half-cheetah, three ways in alternating rounds (a drift in the machine's speed hits
    /// all three): raw mj_step on one thread (one mjData, no env around it); 64 halfcheetah-vel envs with random
    /// actions in the parallel vector env (every core; METARL_MUJOCO_THREADS sets it); the same 64 envs through the sampler with a 2x64 tanh
    /// Gaussian policy in the loop (1 libtorch thread). Rates are integrator steps per second (an env step is 5).
    /// </summary>
    public static void Mujoco(TextWriter stdout, int rounds)
    {
        if (rounds < 1) throw new UsageException("--iterations must be >= 1");
        const int envs = 64, steps = HalfCheetahEnv<VelocityTask>.EpisodeSteps, frameSkip = HalfCheetahEnv<VelocityTask>.FrameSkip5;
        var family = new HalfCheetahVelDistribution();
        var tasks = family.SampleTasks(envs, new Rng(1));
        var rng = new Rng(2);

        // Random actions as a fresh policy draws them, N(0, 1) per motor in the env's [-10, 10] action space:
        // the physics' cost depends on the motion (contacts), so all three ways must move the same way.
        float RandomAction() => (float)rng.Normal();
        var model = MujocoModels.Get("half_cheetah");
        using var data = new MujocoData(model);
        double Raw()
        {
            int episodes = envs / 4; // a quarter of a batch: the rate settles well within it
            var clock = Stopwatch.StartNew();
            for (int e = 0; e < episodes; e++)
            {
                data.Reset();
                for (int t = 0; t < steps; t++)
                {
                    var ctrl = data.Ctrl;
                    for (int i = 0; i < ctrl.Length; i++) ctrl[i] = Math.Clamp(RandomAction(), -10, 10) / 10.0;
                    data.Step(frameSkip);
                }
            }
            return episodes * steps * frameSkip / clock.Elapsed.TotalSeconds;
        }

        using var vector = (MujocoVectorEnv)family.CreateVectorEnv(tasks);
        var actions = new float[envs * vector.ActionSize];
        var rewards = new float[envs];
        bool[] terminated = new bool[envs], truncated = new bool[envs];
        double Vector()
        {
            var clock = Stopwatch.StartNew();
            vector.Reset(seed: rng.NextInt(1 << 30));
            for (int t = 0; t < steps; t++)
            {
                for (int i = 0; i < actions.Length; i++) actions[i] = RandomAction();
                vector.Step(actions, rewards, terminated, truncated);
            }
            return envs * steps * frameSkip / clock.Elapsed.TotalSeconds;
        }

        var policy = new GaussianMlpPolicy(family.ObservationSpace.FlatSize, (Box)family.ActionSpace, [64, 64], rng.Split());
        using var sampler = new Sampler(family);
        double WithPolicy()
        {
            var clock = Stopwatch.StartNew();
            sampler.Sample(policy, tasks, 1, rng);
            return envs * steps * frameSkip / clock.Elapsed.TotalSeconds;
        }

        Raw(); Vector(); WithPolicy(); // warm-up: JIT, first-touch memory, the sampler's envs
        var rates = new[] { new List<double>(), new List<double>(), new List<double>() };
        for (int r = 0; r < rounds; r++)
        {
            rates[0].Add(Raw());
            rates[1].Add(Vector());
            rates[2].Add(WithPolicy());
        }
        double Median(List<double> x) { x.Sort(); return x[x.Count / 2]; }
        double raw = Median(rates[0]), vec = Median(rates[1]), pol = Median(rates[2]);
        stdout.WriteLine($"mujoco: half-cheetah, {envs} envs x {steps} steps, frame skip {frameSkip}; vector env on {vector.Threads} thread(s); medians of {rounds} alternating rounds");
        stdout.WriteLine($"raw mj_step, 1 thread:                {raw,10:0} steps/s  ({1e6 / raw:0.00} us per mj_step)");
        stdout.WriteLine($"vector env, random actions:           {vec,10:0} steps/s  ({vec / frameSkip:0} env steps/s)");
        stdout.WriteLine($"sampler, 2x64 tanh policy in the loop: {pol,10:0} steps/s  ({pol / frameSkip:0} env steps/s)");
        stdout.WriteLine($"vector env / raw mj_step: {vec / raw:0.00}x (bar: >= 1.6x on 2 threads)");
        stdout.WriteLine($"sampler / vector env: {100 * pol / vec:0}% (bar: >= 80%)");
    }

    /// <summary>Resident memory of a run (2D navigation unless another family is given) after iteration 50 and after the last.</summary>
    public static void Memory(TextWriter stdout, string algorithm, int iterations, string env, IReadOnlyDictionary<string, string> values)
    {
        if (iterations < 60) throw new UsageException("--iterations must be >= 60 for the memory benchmark (it compares iteration 50 with the last)");
        using var run = new TrainingRun(algorithm, env, new ConfigValues(values) { ["num-batches"] = $"{iterations}" }, seed: 1);
        stdout.WriteLine($"memory: {algorithm} on {env}, {iterations} iterations{(values.Count > 0 ? ", " + string.Join(", ", values.Select(kv => $"{kv.Key}={kv.Value}")) : "")}");
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
