using System.Runtime.InteropServices;
using R = MetaRl.Envs.Mujoco.MujocoLayout.Render;

namespace MetaRl.Envs.Mujoco;

/// <summary>Offscreen rendering is not available here (no EGL, or no OpenGL driver): the message says what to install.</summary>
public sealed class MujocoRenderException(string message) : Exception(message);

/// <summary>
/// Pictures of a MuJoCo scene without a display: an OpenGL context from EGL on Mesa's surfaceless platform
/// (software rendering, Debian's libegl1 and libegl-mesa0), into which MuJoCo's own renderer (mjv_updateScene,
/// mjr_render) draws its offscreen buffer, read back as RGB. The camera follows a body from the side.
/// The EGL context is the process's one: each call holds it (made current on the calling thread, released after), so
/// renderers on different threads take turns instead of finding it current elsewhere.
/// </summary>
public sealed unsafe class MujocoRenderer : IDisposable
{
    [StructLayout(LayoutKind.Sequential)]
    struct Rect(int left, int bottom, int width, int height)
    {
        public int Left = left, Bottom = bottom, Width = width, Height = height;
    }

    static delegate* unmanaged<void*, void> _defaultCamera, _defaultOption, _defaultScene, _defaultContext, _freeScene, _freeContext;
    static delegate* unmanaged<IntPtr, void*, int, void> _makeScene, _makeContext;
    static delegate* unmanaged<int, void*, void> _setBuffer;
    static delegate* unmanaged<IntPtr, IntPtr, void*, void*, void*, int, void*, void> _updateScene;
    static delegate* unmanaged<Rect, void*, void*, void> _render;
    static delegate* unmanaged<byte*, float*, Rect, void*, void> _readPixels;

    readonly MujocoModel _model;
    readonly byte* _camera, _option, _scene, _context;
    bool _disposed;

    /// <summary>A renderer of <paramref name="model"/>'s scenes, <paramref name="width"/> x <paramref name="height"/> pixels.</summary>
    public MujocoRenderer(MujocoModel model, int width = 320, int height = 240)
    {
        using var current = Egl.Acquire();
        BindMujoco();
        _model = model;
        _camera = (byte*)NativeMemory.AllocZeroed(R.SizeOfCamera);
        _option = (byte*)NativeMemory.AllocZeroed(R.SizeOfOption);
        _scene = (byte*)NativeMemory.AllocZeroed(R.SizeOfScene);
        _context = (byte*)NativeMemory.AllocZeroed(R.SizeOfContext);
        _defaultCamera(_camera); _defaultOption(_option); _defaultScene(_scene); _defaultContext(_context);
        _makeScene(model.Handle, _scene, 2000);
        _makeContext(model.Handle, _context, R.FontScale100);
        MujocoNative.ThrowIfError("mjr_makeContext");
        _setBuffer(R.FramebufferOffscreen, _context);
        int offWidth = *(int*)(_context + R.Context_offWidth), offHeight = *(int*)(_context + R.Context_offHeight);
        if (width > offWidth || height > offHeight)
            throw new ArgumentException($"a {width} x {height} picture does not fit the model's {offWidth} x {offHeight} offscreen buffer");
        Width = width;
        Height = height;
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>
    /// The scene of <paramref name="data"/> (positions as they are: call mj_forward after setting qpos by hand), seen by a
    /// camera looking at <paramref name="body"/> from <paramref name="distance"/> m at the given azimuth and elevation (degrees).
    /// A free camera aimed at the body's position (MuJoCo's tracking camera smooths its motion over calls, so the same
    /// state would not always give the same picture).
    /// Returns RGB bytes, rows from the top.
    /// </summary>
    public byte[] Render(MujocoData data, int body, double distance, double azimuth = 90, double elevation = -20)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var current = Egl.Acquire();
        _setBuffer(R.FramebufferOffscreen, _context); // renderers share the one OpenGL context: bind this one's framebuffer
        *(int*)(_camera + R.Camera_type) = R.CameraFree;
        var lookat = (double*)(_camera + R.Camera_lookat);
        for (int i = 0; i < 3; i++) lookat[i] = data.Xpos[3 * body + i];
        *(double*)(_camera + R.Camera_distance) = distance;
        *(double*)(_camera + R.Camera_azimuth) = azimuth;
        *(double*)(_camera + R.Camera_elevation) = elevation;
        _updateScene(_model.Handle, data.Handle, _option, null, _camera, R.CategoryAll, _scene);
        var viewport = new Rect(0, 0, Width, Height);
        _render(viewport, _scene, _context);
        var bottomUp = new byte[Width * Height * 3];
        fixed (byte* rgb = bottomUp) _readPixels(rgb, null, viewport, _context);
        MujocoNative.ThrowIfError("mjr_render");
        var rows = new byte[bottomUp.Length];
        int stride = Width * 3;
        for (int y = 0; y < Height; y++) Buffer.BlockCopy(bottomUp, (Height - 1 - y) * stride, rows, y * stride, stride);
        return rows;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        using var current = Egl.Acquire();
        _freeContext(_context);
        _freeScene(_scene);
        NativeMemory.Free(_camera); NativeMemory.Free(_option); NativeMemory.Free(_scene); NativeMemory.Free(_context);
    }

    static void BindMujoco()
    {
        if (_render != null) return;
        MujocoNative.EnsureLoaded();
        IntPtr F(string name) => MujocoNative.Export(name);
        _defaultCamera = (delegate* unmanaged<void*, void>)F("mjv_defaultCamera");
        _defaultOption = (delegate* unmanaged<void*, void>)F("mjv_defaultOption");
        _defaultScene = (delegate* unmanaged<void*, void>)F("mjv_defaultScene");
        _defaultContext = (delegate* unmanaged<void*, void>)F("mjr_defaultContext");
        _freeScene = (delegate* unmanaged<void*, void>)F("mjv_freeScene");
        _freeContext = (delegate* unmanaged<void*, void>)F("mjr_freeContext");
        _makeScene = (delegate* unmanaged<IntPtr, void*, int, void>)F("mjv_makeScene");
        _makeContext = (delegate* unmanaged<IntPtr, void*, int, void>)F("mjr_makeContext");
        _setBuffer = (delegate* unmanaged<int, void*, void>)F("mjr_setBuffer");
        _updateScene = (delegate* unmanaged<IntPtr, IntPtr, void*, void*, void*, int, void*, void>)F("mjv_updateScene");
        _readPixels = (delegate* unmanaged<byte*, float*, Rect, void*, void>)F("mjr_readPixels");
        _render = (delegate* unmanaged<Rect, void*, void*, void>)F("mjr_render");
    }

    /// <summary>The process's one EGL display and OpenGL context (Mesa's surfaceless platform: no window system).</summary>
    static class Egl
    {
        const int EGL_NONE = 0x3038, EGL_RED_SIZE = 0x3024, EGL_GREEN_SIZE = 0x3023, EGL_BLUE_SIZE = 0x3022, EGL_DEPTH_SIZE = 0x3025,
            EGL_STENCIL_SIZE = 0x3026, EGL_ALPHA_SIZE = 0x3021, EGL_SURFACE_TYPE = 0x3033, EGL_PBUFFER_BIT = 0x0001, EGL_RENDERABLE_TYPE = 0x3040, EGL_OPENGL_BIT = 0x0008, EGL_OPENGL_API = 0x30A2,
            EGL_PLATFORM_SURFACELESS_MESA = 0x31DD;
        const string Install = "apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri";

        static readonly Lock Gate = new();
        static IntPtr _display, _context;
        static string? _error;
        static delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, int> _makeCurrent;

        /// <summary>
        /// The context, current on this thread until the returned value is disposed. An EGL context is current on at most
        /// one thread (eglMakeCurrent elsewhere fails with EGL_BAD_ACCESS), so it is held under a lock and released after.
        /// </summary>
        public static Current Acquire()
        {
            Gate.Enter();
            try
            {
                if (_context == IntPtr.Zero && _error is null) _error = Create();
                if (_error is not null) throw new MujocoRenderException(_error);
                if (_makeCurrent(_display, IntPtr.Zero, IntPtr.Zero, _context) == 0)
                    throw new MujocoRenderException("eglMakeCurrent failed: the OpenGL context cannot be used on this thread");
                return new Current();
            }
            catch
            {
                Gate.Exit();
                throw;
            }
        }

        public readonly struct Current : IDisposable
        {
            public void Dispose()
            {
                _makeCurrent(_display, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero);
                Gate.Exit();
            }
        }

        static string? Create()
        {
            if (!NativeLibrary.TryLoad("libEGL.so.1", out var egl))
                return $"offscreen rendering needs EGL (libEGL.so.1 not found); install it: sudo {Install}";
            IntPtr F(string name) => NativeLibrary.GetExport(egl, name);
            var getProcAddress = (delegate* unmanaged<byte*, IntPtr>)F("eglGetProcAddress");
            var initialize = (delegate* unmanaged<IntPtr, int*, int*, int>)F("eglInitialize");
            var chooseConfig = (delegate* unmanaged<IntPtr, int*, IntPtr*, int, int*, int>)F("eglChooseConfig");
            var bindApi = (delegate* unmanaged<int, int>)F("eglBindAPI");
            var createContext = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, int*, IntPtr>)F("eglCreateContext");
            _makeCurrent = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, IntPtr, int>)F("eglMakeCurrent");

            IntPtr getPlatformDisplay;
            fixed (byte* name = "eglGetPlatformDisplayEXT\0"u8) getPlatformDisplay = getProcAddress(name);
            if (getPlatformDisplay == IntPtr.Zero) return "EGL lacks eglGetPlatformDisplayEXT: headless rendering needs Mesa's EGL (libegl-mesa0)";
            _display = ((delegate* unmanaged<int, IntPtr, int*, IntPtr>)getPlatformDisplay)(EGL_PLATFORM_SURFACELESS_MESA, IntPtr.Zero, null);
            int major, minor;
            if (_display == IntPtr.Zero || initialize(_display, &major, &minor) == 0)
                return $"EGL cannot open a surfaceless display (Mesa's); install: sudo {Install}";
            // A pbuffer-capable configuration (the default asks for a window, which a surfaceless display has none of).
            int* attributes = stackalloc int[] { EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8, EGL_ALPHA_SIZE, 8, EGL_DEPTH_SIZE, 24, EGL_STENCIL_SIZE, 8,
                EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE };
            IntPtr config;
            int count;
            if (chooseConfig(_display, attributes, &config, 1, &count) == 0 || count < 1)
                return $"EGL has no OpenGL configuration with depth and stencil; install Mesa's drivers: sudo {Install}";
            if (bindApi(EGL_OPENGL_API) == 0) return "EGL cannot bind the desktop OpenGL API";
            _context = createContext(_display, config, IntPtr.Zero, null);
            return _context == IntPtr.Zero ? $"EGL cannot create an OpenGL context; install Mesa's drivers: sudo {Install}" : null;
        }
    }
}
