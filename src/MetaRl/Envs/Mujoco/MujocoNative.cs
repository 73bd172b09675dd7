using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MetaRl.Envs.Mujoco;

/// <summary>
/// A MuJoCo problem the user can fix (the library missing or of another version, a malformed model file):
/// reported in one line, exit code 2.
/// </summary>
public sealed class MujocoException(string message) : UsageException(message);

/// <summary>
/// The thin P/Invoke layer over Debian's MuJoCo 2.2.2 (libmujoco2.2.2): only the calls the envs need, as
/// unmanaged function pointers resolved once from the loaded library (a call costs what a C call does).
/// MuJoCo's default error handler prints and exits the process, and its default warning handler writes
/// MUJOCO_LOG.TXT into the working directory: our handlers are installed right after the library loads,
/// before any other MuJoCo call. An error is kept per thread and raised as an exception when the call returns;
/// a warning is counted (the envs read the per-data warning counters, which say which env it was).
/// </summary>
internal static unsafe class MujocoNative
{
    public const string LibraryFile = "libmujoco.so.2.2.2";
    public const string InstallCommand = "apt-get install -y libmujoco2.2.2 libmujoco-dev";

    static readonly Lock Gate = new();
    static bool _loaded;
    static IntPtr _handle;

    // mjModel* mj_loadXML(const char* filename, const mjVFS* vfs, char* error, int error_sz)
    public static delegate* unmanaged<byte*, void*, byte*, int, IntPtr> LoadXml;
    public static delegate* unmanaged<IntPtr, void> DeleteModel;
    public static delegate* unmanaged<IntPtr, IntPtr, IntPtr> CopyModel;
    public static delegate* unmanaged<IntPtr, IntPtr> MakeData;
    public static delegate* unmanaged<IntPtr, void> DeleteData;
    public static delegate* unmanaged<IntPtr, IntPtr, void> ResetData;
    public static delegate* unmanaged<IntPtr, IntPtr, void> Step;
    public static delegate* unmanaged<IntPtr, IntPtr, void> Forward;
    public static delegate* unmanaged<IntPtr, IntPtr, void> RnePostConstraint;
    public static delegate* unmanaged<IntPtr, int, byte*, int> Name2Id;
    public static delegate* unmanaged<int> Version;

    [ThreadStatic] static string? _error;
    static long _warnings;

    /// <summary>MuJoCo warnings seen by the handler in this process (instabilities; the envs count theirs per episode).</summary>
    public static long WarningCount => Interlocked.Read(ref _warnings);
    public static string? LastWarning { get; private set; }

    /// <summary>Loads the library once (installing it with apt-get when missing and running as root), installs the handlers and checks the version.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loaded) return;
            _handle = Open();
            // The handlers first: any later call may raise an error.
            *(delegate* unmanaged<byte*, void>*)NativeLibrary.GetExport(_handle, "mju_user_error") = &OnError;
            *(delegate* unmanaged<byte*, void>*)NativeLibrary.GetExport(_handle, "mju_user_warning") = &OnWarning;
            Version = (delegate* unmanaged<int>)NativeLibrary.GetExport(_handle, "mj_version");
            int version = Version();
            if (version != MujocoLayout.Version)
                throw new MujocoException($"MetaRl binds MuJoCo {Dotted(MujocoLayout.Version)} and the loaded {LibraryFile} reports {Dotted(version)}; install Debian's: sudo {InstallCommand}");
            LoadXml = (delegate* unmanaged<byte*, void*, byte*, int, IntPtr>)NativeLibrary.GetExport(_handle, "mj_loadXML");
            DeleteModel = (delegate* unmanaged<IntPtr, void>)NativeLibrary.GetExport(_handle, "mj_deleteModel");
            CopyModel = (delegate* unmanaged<IntPtr, IntPtr, IntPtr>)NativeLibrary.GetExport(_handle, "mj_copyModel");
            MakeData = (delegate* unmanaged<IntPtr, IntPtr>)NativeLibrary.GetExport(_handle, "mj_makeData");
            DeleteData = (delegate* unmanaged<IntPtr, void>)NativeLibrary.GetExport(_handle, "mj_deleteData");
            ResetData = (delegate* unmanaged<IntPtr, IntPtr, void>)NativeLibrary.GetExport(_handle, "mj_resetData");
            Step = (delegate* unmanaged<IntPtr, IntPtr, void>)NativeLibrary.GetExport(_handle, "mj_step");
            Forward = (delegate* unmanaged<IntPtr, IntPtr, void>)NativeLibrary.GetExport(_handle, "mj_forward");
            RnePostConstraint = (delegate* unmanaged<IntPtr, IntPtr, void>)NativeLibrary.GetExport(_handle, "mj_rnePostConstraint");
            Name2Id = (delegate* unmanaged<IntPtr, int, byte*, int>)NativeLibrary.GetExport(_handle, "mj_name2id");
            _loaded = true;
        }
    }

    /// <summary>The address of a MuJoCo function (the renderer binds its own).</summary>
    public static IntPtr Export(string name)
    {
        EnsureLoaded();
        return NativeLibrary.GetExport(_handle, name);
    }

    static string Dotted(int version) => $"{version / 100}.{version / 10 % 10}.{version % 10}";

    static IntPtr Open()
    {
        if (NativeLibrary.TryLoad(LibraryFile, out var handle)) return handle;
        if (!OperatingSystem.IsLinux())
            throw new MujocoException($"{LibraryFile} not found: MetaRl's MuJoCo envs run on Linux with Debian 12's libmujoco2.2.2");
        if (IsRoot() && File.Exists("/usr/bin/apt-get"))
        {
            Console.Error.WriteLine($"metarl: {LibraryFile} is missing; installing it: {InstallCommand}");
            if (!Run("apt-get", $"install -y -q {InstallCommand["apt-get install -y ".Length..]}"))
                Run("apt-get", "update -q");
            if (NativeLibrary.TryLoad(LibraryFile, out handle)) return handle;
            Run("apt-get", $"install -y -q {InstallCommand["apt-get install -y ".Length..]}");
            if (NativeLibrary.TryLoad(LibraryFile, out handle)) return handle;
        }
        throw new MujocoException($"{LibraryFile} (MuJoCo 2.2.2) is not installed; run: sudo apt-get update && sudo {InstallCommand}");
    }

    [DllImport("libc", EntryPoint = "geteuid")]
    static extern uint GetEuid();

    static bool IsRoot()
    {
        try { return GetEuid() == 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    static bool Run(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(start)!;
        p.StandardOutput.ReadToEnd(); p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    [UnmanagedCallersOnly]
    static void OnError(byte* message) => _error = Marshal.PtrToStringUTF8((IntPtr)message);

    [UnmanagedCallersOnly]
    static void OnWarning(byte* message)
    {
        Interlocked.Increment(ref _warnings);
        LastWarning = Marshal.PtrToStringUTF8((IntPtr)message);
    }

    /// <summary>Raises the error MuJoCo reported on this thread during the last call, if any.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ThrowIfError(string call)
    {
        if (_error is null) return;
        string message = _error;
        _error = null;
        throw new InvalidOperationException($"MuJoCo error in {call}: {message}");
    }
}
