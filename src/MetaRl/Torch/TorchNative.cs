using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace MetaRl.Torch;

/// <summary>Raised when TorchSharp's native library cannot be loaded; the message is one line that names the library and the cause.</summary>
public sealed class NativeLibraryException(string message) : Exception(message);

/// <summary>
/// Makes TorchSharp's native library load on systems whose libstdc++ is older than the one it was built
/// against (Debian 12: GLIBCXX_3.4.30, while libLibTorchSharp.so asks for GLIBCXX_3.4.32 only to take the
/// address of std::ios_base_library_init). Where the system library lacks a required version that is known
/// to be safe to drop, a copy of libLibTorchSharp.so with that requirement made weak is written to a cache
/// directory (never the NuGet cache or the app directory) and handed to TorchSharp through a DllImport
/// resolver. Where the system library has every version, nothing is done.
/// It runs automatically when the MetaRl assembly loads; call <see cref="EnsureLoaded"/> first in a
/// program that uses TorchSharp before touching any MetaRl type.
/// </summary>
public static class TorchNative
{
    const string LibraryFile = "libLibTorchSharp.so";

    // Versions libLibTorchSharp.so may require that are safe to make weak, with the only symbols allowed
    // to reference them: these are used for their address only, so resolving them to null is harmless.
    static readonly Dictionary<string, string[]> SafeToWeaken = new()
    {
        ["GLIBCXX_3.4.32"] = ["_ZSt21ios_base_library_initv"],
    };

    static readonly Lock Gate = new();
    static bool _attempted;
    static string? _error;
    static IntPtr _handle;

    /// <summary>The path of the edited copy in use, or null where the original loads as it is.</summary>
    public static string? PatchedLibraryPath { get; private set; }

#pragma warning disable CA2255 // a library module initializer is the point: users must not have to call anything
    [ModuleInitializer]
    internal static void OnMetaRlLoaded()
#pragma warning restore CA2255
    {
        lock (Gate) Attempt();
    }

    /// <summary>Loads TorchSharp's native library (editing a copy if needed); throws <see cref="NativeLibraryException"/> with a one-line reason if it cannot.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate) Attempt();
        if (_error is not null) throw new NativeLibraryException(_error);
    }

    static void Attempt()
    {
        if (_attempted) return;
        _attempted = true;
        KeepFreedMemory();
        ReproducibleMkl();
        try { _error = Load(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or InvalidOperationException)
        {
            _error = $"cannot prepare {LibraryFile}: {OneLine(e.Message)}";
        }
    }

    static string? Load()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return null; // the fix is for linux-x64 only; elsewhere TorchSharp loads on its own
        string? original = FindInNativeSearchPath(LibraryFile);
        if (original is null)
            return $"{LibraryFile} not found in the application's native search path ({string.Join(", ", NativeSearchDirectories())}); is the TorchSharp-cpu package referenced?";

        var image = ElfImage.Read(original);
        var missing = MissingLibstdcxxVersions(image, out string stdcxxPath);
        string toLoad = original;
        if (missing.Count > 0)
        {
            var unsafeVersions = missing.Where(v => !SafeToWeaken.ContainsKey(v)).ToList();
            if (unsafeVersions.Count > 0)
                return $"{original} needs {string.Join(", ", unsafeVersions)} from libstdc++, which {stdcxxPath} lacks; install a newer libstdc++6 (GCC 13 or later)";
            toLoad = WeakenedCopy(original, image, missing);
            PatchedLibraryPath = toLoad;
            // The copy lives outside the libtorch directory, so its $ORIGIN runpath cannot find libtorch:
            // load the dependencies first from beside the original; the loader then matches them by soname.
            string dir = Path.GetDirectoryName(original)!;
            foreach (var dep in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
            {
                string? path = File.Exists(Path.Combine(dir, dep)) ? Path.Combine(dir, dep) : FindInNativeSearchPath(dep);
                if (path is null) return $"{dep} (needed by {LibraryFile}) is not beside {original} nor in the native search path; is the TorchSharp-cpu package restored completely?";
                try { NativeLibrary.Load(path); }
                catch (DllNotFoundException e) { return $"cannot load {path} (needed by {LibraryFile}): {OneLine(e.Message)}"; }
            }
        }

        try { _handle = NativeLibrary.Load(toLoad); }
        catch (DllNotFoundException e) { return $"cannot load {toLoad}: {OneLine(e.Message)}"; }

        if (PatchedLibraryPath is not null)
            NativeLibrary.SetDllImportResolver(typeof(torch).Assembly,
                (name, _, _) => name is "LibTorchSharp" or LibraryFile ? _handle : IntPtr.Zero);
        return null;
    }

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// libtorch's CPU build computes matrix products with Intel MKL, whose results may differ in their last bits with
    /// the memory alignment of the operands unless its conditional numerical reproducibility is on. Tensors made from
    /// .NET arrays are not 64-byte aligned, so two runs with the same seed drifted apart by a bit here and there (a
    /// PEARL run's Q-values; seen as a resumed run's progress rows differing from an uninterrupted run's). MKL_CBWR
    /// = AUTO,STRICT makes its results independent of alignment on this processor; it is read when MKL first runs, so
    /// it is set in the process's own environment (libc's setenv: .NET's copy is not the one native code reads)
    /// before any tensor work. A user's own MKL_CBWR is kept.
    /// </summary>
    static void ReproducibleMkl()
    {
        if (!OperatingSystem.IsLinux()) return;
        try { SetEnv("MKL_CBWR", "AUTO,STRICT", overwrite: 0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int MallOpt(int param, int value);

    /// <summary>
    /// libtorch frees and reallocates tensors of tens of megabytes many times per update. With glibc's
    /// defaults each such block is a fresh mmap that the kernel zero-fills page by page, and freed heap
    /// is trimmed back to the system; that churn doubled the time of a MAML meta-update here. Keep blocks
    /// up to 32 MiB on the heap and do not trim it: memory stays at the run's working size instead.
    /// </summary>
    static void KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;
        try
        {
            MallOpt(M_MMAP_THRESHOLD, 32 << 20);
            MallOpt(M_TRIM_THRESHOLD, 1 << 30);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { } // not glibc: nothing to tune
    }

    /// <summary>The libstdc++ versions that <paramref name="image"/> requires (not weakly) and the process's libstdc++ does not define.</summary>
    static List<string> MissingLibstdcxxVersions(ElfImage image, out string stdcxxPath)
    {
        stdcxxPath = LoadedLibraryPath("libstdc++.so") ?? "libstdc++.so.6";
        if (!File.Exists(stdcxxPath))
        {
            NativeLibrary.TryLoad("libstdc++.so.6", out _);
            stdcxxPath = LoadedLibraryPath("libstdc++.so") ?? throw new InvalidOperationException("libstdc++.so.6 is not installed");
        }
        return MissingVersions(image, "libstdc++.so", ElfImage.Read(stdcxxPath));
    }

    /// <summary>The versions <paramref name="needer"/> requires, not weakly, from the library whose file name starts with <paramref name="library"/>, that <paramref name="provider"/> does not define.</summary>
    internal static List<string> MissingVersions(ElfImage needer, string library, ElfImage provider)
    {
        var defined = provider.VersionDefinitions.ToHashSet();
        return needer.VersionNeeds
            .Where(n => n.File.StartsWith(library, StringComparison.Ordinal) && !n.IsWeak && !defined.Contains(n.Name))
            .Select(n => n.Name).ToList();
    }

    static string WeakenedCopy(string original, ElfImage image, List<string> versions)
    {
        foreach (var version in versions)
        {
            var weakened = image.WeakenVersionNeed(version);
            var unexpected = weakened.Except(SafeToWeaken[version]).ToList();
            if (unexpected.Count > 0)
                throw new InvalidOperationException($"{original} uses {string.Join(", ", unexpected)} from {version}; dropping it is not known to be safe");
        }
        byte[] bytes = image.Bytes;
        string hash = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        string dir = Path.Combine(CacheRoot(), hash);
        string target = Path.Combine(dir, LibraryFile);
        if (File.Exists(target) && new FileInfo(target).Length == bytes.Length) return target;
        Directory.CreateDirectory(dir);
        // Write then rename: concurrent processes (parallel test hosts) never see a half-written file.
        string tmp = Path.Combine(dir, $".{LibraryFile}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, target, overwrite: true);
        return target;
    }

    static string CacheRoot()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var candidates = new List<string>();
        if (!string.IsNullOrEmpty(xdg)) candidates.Add(Path.Combine(xdg, "metarl", "native"));
        if (!string.IsNullOrEmpty(home)) candidates.Add(Path.Combine(home, ".cache", "metarl", "native"));
        candidates.Add(Path.Combine(Path.GetTempPath(), $"metarl-native-{Environment.UserName}"));
        foreach (var c in candidates)
        {
            try
            {
                Directory.CreateDirectory(c);
                string probe = Path.Combine(c, $".probe-{Environment.ProcessId}");
                File.WriteAllText(probe, "");
                File.Delete(probe);
                return c;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        throw new IOException($"no writable cache directory among {string.Join(", ", candidates)}");
    }

    static IEnumerable<string> NativeSearchDirectories()
    {
        var dirs = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string s)
            dirs.AddRange(s.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        dirs.Add(AppContext.BaseDirectory);
        if (Path.GetDirectoryName(typeof(torch).Assembly.Location) is { Length: > 0 } torchDir) dirs.Add(torchDir);
        return dirs.SelectMany(d => new[] { d, Path.Combine(d, "runtimes", "linux-x64", "native") }).Distinct();
    }

    static string? FindInNativeSearchPath(string file) =>
        NativeSearchDirectories().Select(d => Path.Combine(d, file)).FirstOrDefault(File.Exists);

    static string? LoadedLibraryPath(string namePrefix)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash < 0) continue;
                string path = line[slash..];
                if (Path.GetFileName(path).StartsWith(namePrefix, StringComparison.Ordinal)) return path;
            }
        }
        catch (IOException) { }
        return null;
    }

    static string OneLine(string s) => string.Join(' ', s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
