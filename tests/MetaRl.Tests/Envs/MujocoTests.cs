using System.Diagnostics;
using MetaRl.Envs;
using MetaRl.Envs.Mujoco;
using MetaRl.Envs.Navigation;
using MetaRl.Experiments;

namespace MetaRl.Tests.Envs;

/// <summary>The MuJoCo binding: layout, version, errors, instabilities. scripts/test.sh installs libmujoco; nothing here is skipped.</summary>
public class MujocoBindingTests
{
    [Fact]
    public void TheCommittedLayoutIsWhatGccComputesFromTheInstalledHeaders()
    {
        string root = Repo.Root;
        var start = new ProcessStartInfo("bash", [Path.Combine(root, "scripts", "mujoco-layout.sh"), "--print"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(start)!;
        string generated = p.StandardOutput.ReadToEnd();
        string errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"scripts/mujoco-layout.sh failed (needs gcc and libmujoco-dev; scripts/test.sh installs them): {errors}");
        Assert.Equal(File.ReadAllText(Path.Combine(root, "src", "MetaRl", "Envs", "Mujoco", "MujocoLayout.g.cs")), generated);
    }

    [Fact]
    public unsafe void TheLoadedLibraryIsMujoco222()
    {
        MujocoNative.EnsureLoaded();
        Assert.Equal(222, MujocoNative.Version());
    }

    [Fact]
    public void AModelWithABadAttributeIsRefusedInOneLineNamingTheProblem()
    {
        const string xml = "<mujoco><worldbody><body><geom type=\"sphere\" size=\"oops\"/></body></worldbody></mujoco>";
        var e = Assert.Throws<MujocoException>(() => MujocoModel.FromXml(xml, "broken.xml"));
        Assert.IsAssignableFrom<UsageException>(e); // the CLI's exit code 2
        Assert.Contains("broken.xml", e.Message);
        Assert.Contains("size", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        var missing = Assert.Throws<MujocoException>(() => MujocoModel.FromFile("/nonexistent/model.xml"));
        Assert.Contains("/nonexistent/model.xml", missing.Message);
    }

    [Fact]
    public void TheBuiltInModelsHaveTheGymShapes()
    {
        var cheetah = MujocoModels.Get("half_cheetah");
        Assert.Equal((9, 9, 6), (cheetah.Nq, cheetah.Nv, cheetah.Nu));
        Assert.Equal(14.0, cheetah.BodyMass.ToArray().Sum(), 6); // settotalmass
        Assert.Equal(0.01, cheetah.Timestep);
        Assert.Equal([120.0, 90, 60, 120, 60, 30], Enumerable.Range(0, 6).Select(i => cheetah.ActuatorGear[i * 6]));
        var ant = MujocoModels.Get("ant");
        Assert.Equal((15, 14, 8, 14), (ant.Nq, ant.Nv, ant.Nu, ant.NBody));
        Assert.All(Enumerable.Range(0, 8), i => Assert.Equal(150.0, ant.ActuatorGear[i * 6]));
        var walker = MujocoModels.Get("walker2d");
        Assert.Equal((9, 9, 6), (walker.Nq, walker.Nv, walker.Nu));
        Assert.Equal(1.25, walker.Qpos0[1], 9); // rootz's ref: qpos[1] is the torso's height
        Assert.Equal(0.002, walker.Timestep);
    }

    [Fact]
    public void TheOffscreenRendererDrawsTheSceneHeadless()
    {
        var model = MujocoModels.Get("half_cheetah");
        using var data = new MujocoData(model);
        data.Reset();
        data.Forward();
        using var renderer = new MujocoRenderer(model, 160, 120);
        var rgb = renderer.Render(data, model.BodyId("torso"), distance: 3);
        Assert.Equal(160 * 120 * 3, rgb.Length);
        Assert.Equal(rgb, renderer.Render(data, model.BodyId("torso"), distance: 3)); // the same scene, the same pixels
        int distinct = Enumerable.Range(0, rgb.Length / 3).Select(i => (rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2])).Distinct().Count();
        Assert.True(distinct > 100, $"a shaded body over a checkered floor has many colours; got {distinct}");
        data.Qpos[0] = 0.25; // half a checker square: the floor moves under the tracking camera
        data.Forward();
        Assert.NotEqual(rgb, renderer.Render(data, model.BodyId("torso"), distance: 3));
    }

    [Fact]
    public async Task RenderersOnDifferentThreadsTakeTurnsWithTheOneContext()
    {
        // The EGL context is current on at most one thread; a renderer that left it current on its thread made every
        // other thread's eglMakeCurrent fail (tests of other classes render in parallel). Renderers share that context's
        // state, so each must bind its own framebuffer before drawing.
        var model = MujocoModels.Get("half_cheetah");
        using var data = new MujocoData(model);
        data.Reset();
        data.Forward();
        using var here = new MujocoRenderer(model, 80, 60);
        var expected = here.Render(data, model.BodyId("torso"), distance: 3);
        var elsewhere = await Task.Factory.StartNew(() =>
        {
            using var other = new MujocoRenderer(model, 80, 60);
            return other.Render(data, model.BodyId("torso"), distance: 3);
        }, TaskCreationOptions.LongRunning);
        Assert.Equal(expected, elsewhere);
        var together = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
            Enumerable.Range(0, 5).Select(_ => here.Render(data, model.BodyId("torso"), distance: 3)).ToList(), TaskCreationOptions.LongRunning)));
        // Every picture equal: also after another renderer's context came and went (its framebuffer was left bound).
        Assert.All(together.SelectMany(list => list), rgb => Assert.Equal(expected, rgb));
    }

    [Fact]
    public void AnUnstableSimulationEndsTheEpisodeWithoutANaN()
    {
        using var env = new HalfCheetahVelEnv(new VelocityTask(1), new Rng(1));
        var obs = new float[20];
        env.Reset(3, obs);
        long before = MujocoInstability.Episodes;
        env.Simulation.Qvel[3] = 1e12; // beyond MuJoCo's 1e10 bound: mj_step flags it and resets the data
        var r = env.Step(new float[6], obs);
        Assert.True(r.Truncated);
        Assert.Equal(0f, r.Reward);
        Assert.All(obs, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(before + 1, MujocoInstability.Episodes);
        Assert.Equal(0, env.Simulation.Instabilities); // the env's restart cleared the flag
    }
}

/// <summary>Rewards and observations against values computed by hand from the simulator's state.</summary>
public class MujocoEnvTests
{
    static float[] Action(Rng rng, int n, float scale) => Enumerable.Range(0, n).Select(_ => (float)rng.Uniform(-scale, scale)).ToArray();

    [Fact]
    public void HalfCheetahForwardRewardIsTheTorsoDisplacementOverTheFrameSkipWindow()
    {
        var rng = new Rng(5);
        using var vel = new HalfCheetahVelEnv(new VelocityTask(1.5f), new Rng(1));
        using var dir = new HalfCheetahDirEnv(new DirectionTask(-1), new Rng(1));
        var obs = new float[20];
        Assert.Equal(0.05, vel.Dt, 12); // 5 frames of 0.01 s
        vel.Reset(7, obs);
        dir.Reset(7, new float[20]);
        for (int t = 0; t < 30; t++)
        {
            var a = Action(rng, 6, 12f); // some beyond the [-10, 10] box: clipped before they reach the motors
            double x0 = vel.TorsoPosition.X;
            var r = vel.Step(a, obs);
            var rd = dir.Step(a, new float[20]);
            double v = (vel.TorsoPosition.X - x0) / 0.05;
            double ctrlCost = 0.05 * a.Sum(ai => Math.Pow(Math.Clamp(ai, -10, 10) / 10.0, 2));
            Assert.Equal(-Math.Abs(v - 1.5) - ctrlCost, r.Reward, 4);
            Assert.Equal(-v - ctrlCost, rd.Reward, 4); // same seed, same actions: the same motion
            // observation: qpos[1:], qvel, torso position
            Assert.Equal(vel.Simulation.Qpos[1..].ToArray().Select(q => (float)q), obs[..8]);
            Assert.Equal(vel.Simulation.Qvel.ToArray().Select(q => (float)q), obs[8..17]);
            Assert.Equal((float)vel.TorsoPosition.X, obs[17]);
        }
    }

    [Fact]
    public void AntCostsEqualHandComputedValues()
    {
        var goal = new GoalTask(1.5f, -2f);
        using var env = new AntGoalEnv(goal, new Rng(1));
        var obs = new float[125];
        env.Reset(2, obs);
        // Lifted 3 m into the air, still: no contact, so the contact cost is 0; controls 0.5 each cost 0.1 x 8 x 0.25.
        env.Simulation.Qpos[2] = 3;
        env.Simulation.Qvel.Clear();
        var r = env.Step(Enumerable.Repeat(5f, 8).ToArray(), obs);
        Assert.All(env.Simulation.CfrcExt.ToArray(), f => Assert.Equal(0, f));
        var (x, y, _) = env.TorsoPosition;
        Assert.Equal(-(Math.Abs(x - 1.5) + Math.Abs(y + 2)) - 0.2, r.Reward, 4);

        // On the floor, settled: the contact cost is 0.5e-3 x the sum of squared clipped forces, and not zero.
        env.Reset(2, obs);
        for (int t = 0; t < 20; t++) env.Step(new float[8], obs);
        var a = new float[] { 10, -10, 2, -4, 0, 6, -8, 1 };
        r = env.Step(a, obs);
        double contact = 0.5e-3 * env.Simulation.CfrcExt.ToArray().Sum(f => Math.Pow(Math.Clamp(f, -1, 1), 2));
        Assert.True(contact > 1e-4, $"a standing ant touches the floor: contact cost {contact}");
        double control = 0.1 * a.Sum(ai => Math.Pow(ai / 10.0, 2)); // 0.1 x (1 + 1 + 0.04 + 0.16 + 0 + 0.36 + 0.64 + 0.01) = 0.321
        Assert.Equal(0.321, control, 9);
        (x, y, _) = env.TorsoPosition;
        Assert.Equal(-(Math.Abs(x - 1.5) + Math.Abs(y + 2)) - control - contact, r.Reward, 4);
        // the observation carries the clipped contact forces after qpos and qvel
        Assert.Equal(env.Simulation.CfrcExt.ToArray().Select(f => (float)Math.Clamp(f, -1, 1)), obs[29..113]);
    }

    [Fact]
    public void AntDirRewardsVelocityAlongTheTaskAndEndsOnAFall()
    {
        using var env = new AntDirDistribution().CreateEnv(new DirectionTask(1), new Rng(1));
        var ant = (AntEnv<DirectionTask>)env;
        var obs = new float[125];
        env.Reset(4, obs);
        var a = new float[] { 3, -3, 3, -3, 3, -3, 3, -3 };
        double x0 = ant.TorsoPosition.X;
        var r = env.Step(a, obs);
        double v = (ant.TorsoPosition.X - x0) / 0.05;
        double contact = 0.5e-3 * ant.Simulation.CfrcExt.ToArray().Sum(f => Math.Pow(Math.Clamp(f, -1, 1), 2));
        Assert.Equal(v + 0.05 - 0.005 * 8 * 0.09 - contact, r.Reward, 4);
        Assert.False(r.Terminated);
        ant.Simulation.Qpos[2] = 1.5; // above the 1.0 m limit
        Assert.True(env.Step(a, obs).Terminated);
    }

    [Fact]
    public void WalkerParamsRescalesThePhysicsPerTaskWithinTheRange()
    {
        var basis = MujocoModels.Get("walker2d");
        using var a = new WalkerParamsEnv(new WalkerParamsTask(11), new Rng(1));
        using var b = new WalkerParamsEnv(new WalkerParamsTask(11), new Rng(2));
        using var ood = new WalkerParamsEnv(new WalkerParamsTask(11, 4.5f, OutOfDistribution: true), new Rng(1));
        var model = a.Simulation.Model;
        Assert.NotSame(basis, model);
        Assert.Equal(model.BodyMass.ToArray(), b.Simulation.Model.BodyMass.ToArray()); // the seed fixes the physics
        double Exponent(double scaled, double original) => Math.Log(scaled / original) / Math.Log(1.5);
        var exponents = Enumerable.Range(1, basis.NBody - 1).Select(i => Exponent(model.BodyMass[i], basis.BodyMass[i]))
            .Concat(Enumerable.Range(0, basis.NGeom * 3).Select(i => Exponent(model.GeomFriction[i], basis.GeomFriction[i]))).ToList();
        Assert.All(exponents, e => Assert.InRange(e, -3, 3));
        Assert.True(exponents.Max() - exponents.Min() > 2, "exponents are spread over the range");
        var oodExponents = Enumerable.Range(1, basis.NBody - 1).Select(i => Exponent(ood.Simulation.Model.BodyMass[i], basis.BodyMass[i])).ToList();
        Assert.All(oodExponents, e => Assert.InRange(e, -4.5, 4.5));
    }

    [Fact]
    public void TaskParametersOutOfRangeAreRefusedNamingTheParameter()
    {
        var e = Assert.Throws<UsageException>(() => new HalfCheetahVelEnv(new VelocityTask(5), new Rng(1)));
        Assert.Contains("velocity", e.Message);
        Assert.Contains("[0, 3]", e.Message);
        Assert.Throws<UsageException>(() => new HalfCheetahDirEnv(new DirectionTask(0), new Rng(1)));
        Assert.Contains("within 4 m", Assert.Throws<UsageException>(() => new AntGoalEnv(new GoalTask(5, 0), new Rng(1))).Message);
        Assert.Contains("log-scale-limit", Assert.Throws<UsageException>(() => new WalkerParamsEnv(new WalkerParamsTask(1, 9), new Rng(1))).Message);
    }

    [Fact]
    public void SplitsDrawTrainTestAndOutOfDistributionTasksFromTheirRanges()
    {
        var vel = new HalfCheetahVelDistribution().DefaultSplits();
        Assert.All(vel.Train.Concat(vel.Test), t => Assert.InRange(t.Velocity, 0, 2));
        Assert.All(vel.OutOfDistribution, t => Assert.InRange(t.Velocity, 2, 3));
        var goal = new AntGoalDistribution().DefaultSplits();
        double R(GoalTask g) => Math.Sqrt(g.GoalX * g.GoalX + g.GoalY * g.GoalY);
        Assert.All(goal.Train, g => Assert.InRange(R(g), 0, 3));
        Assert.All(goal.OutOfDistribution, g => Assert.InRange(R(g), 3, 4));
        var dir = new HalfCheetahDirDistribution().DefaultSplits();
        Assert.Equal([-1, 1], dir.Train.Select(t => t.Direction).Distinct().Order());
        Assert.Empty(dir.OutOfDistribution);
        Assert.All(new WalkerParamsDistribution().DefaultSplits().OutOfDistribution, t => Assert.True(t.OutOfDistribution));
        Assert.Equal("halfcheetah-vel", EnvRegistry.FromReference("HalfCheetahVel-v2", new Dictionary<string, string>
        {
            ["low"] = "0.0", ["high"] = "2.0", ["normalization_scale"] = "10.0", ["max_episode_steps"] = "100",
        }));
    }
}

/// <summary>The parallel vector env: the same numbers whatever the thread count.</summary>
public class MujocoVectorEnvTests
{
    static (float[] Obs, float[] Rewards, bool[] Done) Roll(ITaskDistribution family, int threads)
    {
        var tasks = family.SampleTasks(7, new Rng(3));
        using var envs = new MujocoVectorEnv(tasks.Select((t, i) => family.CreateEnv(t, new Rng(i))).ToList(), family, threads);
        Assert.Equal(threads, envs.Threads);
        envs.Reset(seed: 10);
        var rng = new Rng(9);
        var actions = new float[7 * envs.ActionSize];
        var rewards = new float[7];
        var allRewards = new List<float>();
        var terminated = new bool[7];
        var truncated = new bool[7];
        for (int t = 0; t < 60; t++)
        {
            for (int i = 0; i < actions.Length; i++) actions[i] = (float)rng.Uniform(-10, 10);
            envs.Step(actions, rewards, terminated, truncated);
            allRewards.AddRange(rewards);
        }
        return (envs.Observations.ToArray(), allRewards.ToArray(), Enumerable.Range(0, 7).Select(envs.IsDone).ToArray());
    }

    [Theory]
    [InlineData("halfcheetah-vel")]
    [InlineData("ant-dir")]
    [InlineData("walker-params")]
    public void ResultsForASeedAreTheSameWhateverTheThreadCount(string name)
    {
        var family = EnvRegistry.Create(name);
        var one = Roll(family, 1);
        foreach (int threads in new[] { 2, 3, 7 })
        {
            var many = Roll(family, threads);
            Assert.Equal(one.Obs, many.Obs);
            Assert.Equal(one.Rewards, many.Rewards);
            Assert.Equal(one.Done, many.Done);
        }
        Assert.All(one.Obs, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void MujocoFamiliesGiveTheSamplerAParallelVectorEnv()
    {
        var family = EnvRegistry.Create("halfcheetah-dir");
        using var envs = family.CreateVectorEnv(family.SampleTasks(4, new Rng(1)));
        Assert.IsType<MujocoVectorEnv>(envs);
    }
}

/// <summary>The learners run on the MuJoCo families unchanged (each family of meta-RL, and SAC).</summary>
public class MujocoLearnerTests
{
    [Theory]
    [InlineData("maml", "halfcheetah-vel")]
    [InlineData("promp", "halfcheetah-vel")]
    [InlineData("reptile", "ant-goal")]
    [InlineData("rl2", "halfcheetah-dir")]
    [InlineData("sac", "ant-goal")]
    [InlineData("pearl", "halfcheetah-vel")]
    [InlineData("pearl", "ant-goal")]
    [InlineData("varibad", "halfcheetah-vel")]
    [InlineData("varibad", "ant-goal")]
    public void ALearnerRunsAnIterationOnAMujocoFamily(string algorithm, string env)
    {
        var values = algorithm switch
        {
            "rl2" => new Dictionary<string, string> { ["batch-size"] = "400", ["hidden-size"] = "16", ["episodes-per-trial"] = "2" },
            "sac" => new() { ["hidden-sizes"] = "16,16", ["learning-starts"] = "100", ["episodes-per-iteration"] = "1", ["batch-size"] = "16" },
            "pearl" => new()
            {
                ["hidden-sizes"] = "16,16", ["encoder-hidden-sizes"] = "16", ["num-train-tasks"] = "3", ["num-initial-steps"] = "50", ["num-tasks-sample"] = "2",
                ["num-steps-prior"] = "50", ["num-extra-rl-steps-posterior"] = "50", ["num-train-steps-per-itr"] = "3", ["meta-batch"] = "2", ["batch-size"] = "16", ["embedding-batch-size"] = "16",
            },
            "varibad" => new() { ["preset"] = "mujoco", ["num-processes"] = "2", ["policy-layers"] = "16,16", ["encoder-gru-hidden-size"] = "16" },
            _ => new() { ["hidden-sizes"] = "16,16", ["meta-batch-size"] = "2", ["fast-batch-size"] = "2" },
        };
        using var run = new TrainingRun(algorithm, env, values, seed: 1);
        var r = run.RunIteration();
        Assert.True(double.IsFinite(r.MeanReturn));
        Assert.True(r.EnvSteps > 0);
    }
}
