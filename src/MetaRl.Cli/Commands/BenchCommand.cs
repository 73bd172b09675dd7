using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command BenchCommand(TextWriter stdout)
    {
        var which = new Argument<string>("benchmark") { Description = "sampler, memory, maml, maml-memory, rl2, mujoco, pearl, varibad or mt-ppo" };
        which.AcceptOnlyFromAmong("sampler", "memory", "maml", "maml-memory", "rl2", "mujoco", "pearl", "varibad", "mt-ppo");
        var iterations = new Option<int?>("--iterations") { Description = "memory: iterations (default 300 PPO, 500 MAML); maml: timed meta-iterations (default 6); rl2: timed updates of each path (default 4); mujoco: alternating rounds (default 9); pearl: timed gradient steps (default 10); varibad: timed updates (default 20); mt-ppo: timed updates of each gradient combination (default 20)" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (sampler and memory: 1)", DefaultValueFactory = _ => 1 };
        var env = new Option<string>("--env") { Description = "memory and maml-memory: the task family the run trains on; pearl: sparse-point-robot (the default there) or halfcheetah-vel, ant-goal, ...; mt-ppo: the suite (default point-ten)", DefaultValueFactory = _ => "2d-navigation" };
        var set = new Option<string[]>("--set") { Description = "memory and maml-memory: a config key of the run, --set meta-batch-size=10 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var algorithm = new Option<string>("--algorithm") { Description = "memory: the learner whose run is measured (any of metarl list; off-policy learners: give a replay buffer that fills early, e.g. --set replay-buffer-size=5000, so that what is measured is not the data)", DefaultValueFactory = _ => "ppo" };
        var cmd = new Command("bench", "Throughput and memory benchmarks") { which, iterations, threads, env, set, algorithm };
        cmd.SetAction(p =>
        {
            SetThreads(p.GetValue(threads));
            switch (p.GetValue(which))
            {
                case "sampler": Bench.Sampler(stdout); break;
                case "memory": Bench.Memory(stdout, p.GetValue(algorithm)!, p.GetValue(iterations) ?? 300, p.GetValue(env)!, Config.ParseOverrides(p.GetValue(set) ?? [])); break;
                case "maml-memory": Bench.Memory(stdout, "maml", p.GetValue(iterations) ?? 500, p.GetValue(env)!, Config.ParseOverrides(p.GetValue(set) ?? [])); break;
                case "mujoco": Bench.Mujoco(stdout, p.GetValue(iterations) ?? 9); break;
                case "rl2": Bench.Rl2(stdout, p.GetValue(iterations) ?? 4, p.GetValue(threads)); break;
                case "pearl": Bench.Pearl(stdout, p.GetValue(iterations) ?? 10, p.GetValue(threads), p.GetValue(env) == "2d-navigation" ? "sparse-point-robot" : p.GetValue(env)!); break;
                case "varibad": Bench.VariBad(stdout, p.GetValue(iterations) ?? 20, p.GetValue(threads)); break;
                case "mt-ppo": Bench.MultiTask(stdout, p.GetValue(iterations) ?? 20, p.GetValue(env) == "2d-navigation" ? "point-ten" : p.GetValue(env)!, Config.ParseOverrides(p.GetValue(set) ?? [])); break;
                default: Bench.Maml(stdout, p.GetValue(iterations) ?? 6, p.GetValue(threads)); break;
            }
            return Ok;
        });
        return cmd;
    }
}
