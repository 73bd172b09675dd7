using MetaRl.Algorithms.SingleTask;

namespace MetaRl.Cli;

/// <summary>
/// The `metarl` command line. Exit codes: 0 success, 1 a run failed (e.g. a non-finite loss), 2 a usage
/// error (unknown name, bad value, bad arguments). User mistakes print one line, never a stack trace.
/// </summary>
public static partial class Cli
{
    public const int Ok = 0, RunFailed = 1, UsageError = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool interactive = false)
    {
        var root = BuildCommands(stdout, interactive);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors) stderr.WriteLine($"metarl: {e.Message}");
            stderr.WriteLine("Run 'metarl --help' for usage.");
            return UsageError;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e) { stderr.WriteLine($"metarl: {e.Message}"); return UsageError; }
        catch (NativeLibraryException e) { stderr.WriteLine($"metarl: {e.Message}"); return RunFailed; }
        catch (NonFiniteException e)
        {
            stderr.WriteLine($"metarl: training stopped: {e.Message}. The last good checkpoint is kept; lower the learning rate or max-kl and resume with --resume.");
            return RunFailed;
        }
    }

    static RootCommand BuildCommands(TextWriter stdout, bool interactive)
    {
        var root = new RootCommand("MetaRl: multi-task and meta reinforcement learning for .NET");
        root.Add(ListCommand(stdout));
        root.Add(TrainCommand(stdout, interactive));
        root.Add(EvalCommand(stdout));
        root.Add(BenchCommand(stdout));
        root.Add(DemoCommand(stdout, interactive));
        root.Add(ReproduceCommand(stdout));
        root.Add(PlotCommand(stdout));
        root.Add(BeliefCommand(stdout));
        root.Add(RenderCommand(stdout));
        root.Add(TransferCommand(stdout));
        root.Add(CompareCommand(stdout));
        root.Add(AdviseCommand(stdout));
        return root;
    }

    /// <summary>hh:mm:ss, with the days in front when there are any (a paper-scale run's ETA runs to days).</summary>
    internal static string Duration(TimeSpan t) =>
        (t.Days > 0 ? $"{t.Days}d " : "") + t.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);

    internal static void SetThreads(int threads)
    {
        if (threads < 1) throw new UsageException($"--threads must be >= 1; got {threads}");
        TorchNative.EnsureLoaded();
        TorchSharp.torch.set_num_threads(threads);
    }

    static IAnsiConsole ConsoleFor(TextWriter writer) =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
}
