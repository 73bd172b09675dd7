using MetaRl.Algorithms.SingleTask;
using MetaRl.Envs.Suites;

namespace MetaRl.Cli;

public static partial class Cli
{
    static Command ListCommand(TextWriter stdout)
    {
        var what = new Argument<string>("what") { Description = "envs, suites, algorithms or experiments (all if omitted)", DefaultValueFactory = _ => "all" };
        what.AcceptOnlyFromAmong("all", "envs", "suites", "algorithms", "experiments");
        var cmd = new Command("list", "List the envs, multi-task suites, algorithms and experiments, each with a one-line description") { what };
        cmd.SetAction(p =>
        {
            string w = p.GetValue(what)!;
            var console = ConsoleFor(stdout);
            if (w is "all" or "envs")
            {
                var t = new Table().Title("envs").AddColumn("name").AddColumn("description");
                foreach (var name in EnvRegistry.Names.Where(n => !SuiteRegistry.Contains(n))) t.AddRow(name, Markup.Escape(EnvRegistry.Create(name).Description));
                console.Write(t);
            }
            if (w is "all" or "suites")
            {
                var t = new Table().Title("suites (multi-task: mt-ppo --suite NAME)").AddColumn("name").AddColumn("tasks").AddColumn("description");
                foreach (var name in SuiteRegistry.Names)
                {
                    var suite = SuiteRegistry.Create(name);
                    t.AddRow(name, Markup.Escape(string.Join(", ", suite.Tasks.Select(x => x.Name))), Markup.Escape(suite.Description));
                }
                console.Write(t);
            }
            if (w is "all" or "algorithms")
            {
                var t = new Table().Title("algorithms").AddColumn("name").AddColumn("description");
                foreach (var spec in LearnerRegistry.All) t.AddRow(spec.Name, Markup.Escape(spec.Description));
                console.Write(t);
            }
            if (w is "all" or "experiments")
            {
                var t = new Table().Title("experiments").AddColumn("name").AddColumn("description");
                foreach (var (name, d) in Experiments) t.AddRow(name, Markup.Escape(d));
                console.Write(t);
            }
            return Ok;
        });
        return cmd;
    }

    static readonly Dictionary<string, string> Experiments = new()
    {
        ["demo"] = "MAML-TRPO on 2D navigation for 15 meta-iterations, then the adaptation table (the README's first command)",
        [MamlReproduction.Name] = "MAML-TRPO vs pretrained, scratch and oracle on 2D navigation, 3 seeds x 500 iterations, beside pytorch-maml-rl's numbers",
        [Rl2Reproduction.Bandits] = "RL2's Table 1: RL2 against Gittins, Thompson sampling, UCB1, epsilon-greedy and greedy on Bernoulli bandits, beside the paper's numbers",
        [Rl2Reproduction.Mdps] = "RL2's Table 2: RL2 against PSRL, OPSRL, UCRL2, BEB, random and greedy on random tabular MDPs, beside the paper's numbers",
        [VariBadReproduction.Name] = "variBAD and RL2 on the 5x5 grid world with the official settings, beside the exact Bayes-optimal and goal-known returns",
        [InContextStudy.Bandits] = "the in-context learner (causal transformer) against RL2 on 10-armed bandits, n = 100, RL2's budget, the same held-out tasks",
        [InContextStudy.Context] = "the in-context learner's return against its context length (past episodes it attends to) on bandits and 2D navigation",
        [PearlReproduction.Name] = "PEARL on the sparse point robot with oyster's settings: success and return after 0, 1, 2, ... episodes of context",
        [GradientStudy.Name] = "MT-PPO with the summed gradient, PCGrad and GradNorm on the point-conflict suite, 3 seeds: success per task, gradient cosines, GradNorm's spread",
        [LocomotionStudy.Name] = "MT-SAC, MT-SAC + PCGrad and one SAC per task on locomotion-10 (half-cheetah and ant), 3 seeds, the same per-task budget: success and return per task",
    };
}
