using System.Text;
using L = MetaRl.Envs.Mujoco.MujocoLayout;

namespace MetaRl.Envs.Mujoco;

/// <summary>
/// A compiled MuJoCo model (mjModel). One is shared by every env of a family whose tasks change only the
/// reward; a family whose tasks change the physics (walker-params) gives each env its own copy. Arrays are
/// views of MuJoCo's own memory, read through the offsets generated from 2.2.2's headers (<see cref="MujocoLayout"/>).
/// </summary>
public sealed unsafe class MujocoModel : IDisposable
{
    IntPtr _handle;

    MujocoModel(IntPtr handle, string name)
    {
        _handle = handle;
        Name = name;
        byte* m = (byte*)handle;
        Nq = *(int*)(m + L.Model.nq);
        Nv = *(int*)(m + L.Model.nv);
        Nu = *(int*)(m + L.Model.nu);
        NBody = *(int*)(m + L.Model.nbody);
        NJnt = *(int*)(m + L.Model.njnt);
        NGeom = *(int*)(m + L.Model.ngeom);
    }

    /// <summary>Compiles MJCF text; a malformed model raises a <see cref="MujocoException"/> naming <paramref name="name"/> and MuJoCo's reason.</summary>
    public static MujocoModel FromXml(string xml, string name)
    {
        MujocoNative.EnsureLoaded();
        // mj_loadXML reads a file (its in-memory VFS is a 2 MB struct): write a private temporary one.
        string path = Path.Combine(Path.GetTempPath(), $"metarl-{Environment.ProcessId}-{Guid.NewGuid():N}.xml");
        File.WriteAllText(path, xml);
        try { return Load(path, name); }
        finally { File.Delete(path); }
    }

    /// <summary>Compiles an MJCF file.</summary>
    public static MujocoModel FromFile(string path)
    {
        MujocoNative.EnsureLoaded();
        if (!File.Exists(path)) throw new MujocoException($"model file {path} does not exist");
        return Load(path, path);
    }

    static MujocoModel Load(string path, string name)
    {
        var error = new byte[1000];
        byte[] file = Encoding.UTF8.GetBytes(path + "\0");
        IntPtr m;
        fixed (byte* f = file, e = error) m = MujocoNative.LoadXml(f, null, e, error.Length);
        MujocoNative.ThrowIfError("mj_loadXML");
        if (m == IntPtr.Zero)
        {
            string reason = Encoding.UTF8.GetString(error, 0, Math.Max(0, System.Array.IndexOf(error, (byte)0))).Trim();
            throw new MujocoException($"model {name} is not valid MJCF: {string.Join(" ", reason.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))}");
        }
        return new MujocoModel(m, name);
    }

    /// <summary>A copy (mj_copyModel) whose physical parameters can be changed without touching this one.</summary>
    public MujocoModel Copy()
    {
        var copy = MujocoNative.CopyModel(IntPtr.Zero, Handle);
        MujocoNative.ThrowIfError("mj_copyModel");
        return new MujocoModel(copy, Name);
    }

    public string Name { get; }
    internal IntPtr Handle => _handle != IntPtr.Zero ? _handle : throw new ObjectDisposedException(nameof(MujocoModel));
    public int Nq { get; }
    public int Nv { get; }
    public int Nu { get; }
    public int NBody { get; }
    public int NJnt { get; }
    public int NGeom { get; }
    /// <summary>The integrator's step (opt.timestep), seconds.</summary>
    public double Timestep => *(double*)((byte*)Handle + L.Model.opt_timestep);

    Span<double> Array(int offset, int length) => new(*(double**)((byte*)Handle + offset), length);
    public Span<double> Qpos0 => Array(L.Model.qpos0, Nq);
    public Span<double> BodyMass => Array(L.Model.body_mass, NBody);
    /// <summary>[nbody x 3] diagonal inertias.</summary>
    public Span<double> BodyInertia => Array(L.Model.body_inertia, NBody * 3);
    /// <summary>[njnt x 2] joint limits.</summary>
    public Span<double> JointRange => Array(L.Model.jnt_range, NJnt * 2);
    public Span<double> DofDamping => Array(L.Model.dof_damping, Nv);
    /// <summary>[ngeom x 3] sliding, torsional, rolling friction.</summary>
    public Span<double> GeomFriction => Array(L.Model.geom_friction, NGeom * 3);
    /// <summary>[nu x 2] control limits.</summary>
    public Span<double> ActuatorCtrlRange => Array(L.Model.actuator_ctrlrange, Nu * 2);
    /// <summary>[nu x 6] transmission gains (the first is the motor's gear).</summary>
    public Span<double> ActuatorGear => Array(L.Model.actuator_gear, Nu * 6);

    /// <summary>The id of the body named <paramref name="name"/>.</summary>
    public int BodyId(string name) => Id(L.ObjBody, name, "body");

    public int JointId(string name) => Id(L.ObjJoint, name, "joint");

    int Id(int type, string name, string what)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(name + "\0");
        int id;
        fixed (byte* b = bytes) id = MujocoNative.Name2Id(Handle, type, b);
        return id >= 0 ? id : throw new MujocoException($"model {Name} has no {what} named '{name}'");
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        MujocoNative.DeleteModel(_handle);
        _handle = IntPtr.Zero;
    }
}

/// <summary>
/// The simulation state of one env (mjData). Its arrays are allocated once by mj_makeData and never move,
/// so the pointers are read once and every step reads and writes them directly.
/// </summary>
public sealed unsafe class MujocoData : IDisposable
{
    IntPtr _handle;
    readonly double* _qpos, _qvel, _ctrl, _xpos, _xmat, _cfrcExt;

    public MujocoData(MujocoModel model)
    {
        Model = model;
        _handle = MujocoNative.MakeData(model.Handle);
        MujocoNative.ThrowIfError("mj_makeData");
        if (_handle == IntPtr.Zero) throw new InvalidOperationException($"mj_makeData failed for model {model.Name}");
        byte* d = (byte*)_handle;
        _qpos = *(double**)(d + L.Data.qpos);
        _qvel = *(double**)(d + L.Data.qvel);
        _ctrl = *(double**)(d + L.Data.ctrl);
        _xpos = *(double**)(d + L.Data.xpos);
        _xmat = *(double**)(d + L.Data.xmat);
        _cfrcExt = *(double**)(d + L.Data.cfrc_ext);
    }

    public MujocoModel Model { get; }
    internal IntPtr Handle => _handle != IntPtr.Zero ? _handle : throw new ObjectDisposedException(nameof(MujocoData));

    public Span<double> Qpos => new(_qpos, Model.Nq);
    public Span<double> Qvel => new(_qvel, Model.Nv);
    public Span<double> Ctrl => new(_ctrl, Model.Nu);
    /// <summary>[nbody x 3] body frame positions in the world.</summary>
    public ReadOnlySpan<double> Xpos => new(_xpos, Model.NBody * 3);
    /// <summary>[nbody x 9] body frame orientations (row-major rotation matrices).</summary>
    public ReadOnlySpan<double> Xmat => new(_xmat, Model.NBody * 9);
    /// <summary>[nbody x 6] external forces on bodies (contacts); computed by <see cref="RnePostConstraint"/>, not by mj_step.</summary>
    public ReadOnlySpan<double> CfrcExt => new(_cfrcExt, Model.NBody * 6);
    public double Time => *(double*)((byte*)Handle + L.Data.time);

    /// <summary>
    /// How often, since the last reset, MuJoCo met a bad (NaN, infinite, huge) qpos, qvel or qacc (it then resets the
    /// data itself) or ran out of room for contacts or constraints (it then drops some: the physics is wrong).
    /// </summary>
    public int Instabilities
    {
        get
        {
            byte* w = (byte*)Handle + L.Data.warning;
            int Count(int warning) => *(int*)(w + warning * L.Warning.Size + L.Warning.number);
            return Count(L.Warning.BadQpos) + Count(L.Warning.BadQvel) + Count(L.Warning.BadQacc) + Count(L.Warning.ContactFull) + Count(L.Warning.ConstraintFull);
        }
    }

    public void Reset()
    {
        MujocoNative.ResetData(Model.Handle, Handle);
        MujocoNative.ThrowIfError("mj_resetData");
    }

    public void Forward()
    {
        MujocoNative.Forward(Model.Handle, Handle);
        MujocoNative.ThrowIfError("mj_forward");
    }

    /// <summary><paramref name="n"/> integrator steps with the current controls.</summary>
    public void Step(int n = 1)
    {
        IntPtr m = Model.Handle, d = Handle;
        for (int i = 0; i < n; i++) MujocoNative.Step(m, d);
        MujocoNative.ThrowIfError("mj_step");
    }

    /// <summary>Computes cfrc_ext (and the other post-constraint quantities), which mj_step leaves stale.</summary>
    public void RnePostConstraint()
    {
        MujocoNative.RnePostConstraint(Model.Handle, Handle);
        MujocoNative.ThrowIfError("mj_rnePostConstraint");
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        MujocoNative.DeleteData(_handle);
        _handle = IntPtr.Zero;
    }
}
