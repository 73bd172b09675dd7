using System.Buffers.Binary;
using System.Text;

namespace MetaRl.Torch;

/// <summary>One entry of an ELF file's version-needs section: a symbol version required from a library.</summary>
public sealed record VersionNeed(string File, string Name, ushort Flags, ushort Index)
{
    public const ushort WeakFlag = 0x2; // VER_FLG_WEAK
    public bool IsWeak => (Flags & WeakFlag) != 0;
}

/// <summary>One entry of the dynamic symbol table with its version index from .gnu.version.</summary>
public sealed record DynamicSymbol(string Name, int Binding, int Type, bool IsUndefined, ushort VersionIndex)
{
    public const int Global = 1; // STB_GLOBAL
    public const int Weak = 2;   // STB_WEAK
}

/// <summary>
/// A minimal reader and editor of 64-bit little-endian ELF shared objects: just the dynamic symbols
/// and the GNU symbol-versioning sections, enough to relax a version requirement in place.
/// It works on a byte array; the caller decides where the edited copy goes.
/// </summary>
public sealed class ElfImage
{
    const uint ShtDynsym = 11, ShtGnuVerdef = 0x6ffffffd, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
    const ushort VerNdxGlobal = 1;

    readonly byte[] _bytes;
    readonly List<Section> _sections = new();

    readonly record struct Section(uint Type, long Offset, long Size, uint Link, uint Info, long EntrySize);

    public byte[] Bytes => _bytes;

    ElfImage(byte[] bytes)
    {
        _bytes = bytes;
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file (bad magic)");
        if (bytes[4] != 2 || bytes[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");
        long shoff = (long)U64(40);
        int shentsize = U16(58), shnum = U16(60);
        if (shoff <= 0 || shentsize < 64 || shoff + (long)shentsize * shnum > bytes.Length)
            throw new InvalidDataException("ELF section header table is missing or truncated");
        for (int i = 0; i < shnum; i++)
        {
            long o = shoff + (long)i * shentsize;
            var s = new Section(U32(o + 4), (long)U64(o + 24), (long)U64(o + 32), U32(o + 40), U32(o + 44), (long)U64(o + 56));
            if (s.Type != 8 /* SHT_NOBITS */ && s.Offset + s.Size > bytes.Length)
                throw new InvalidDataException($"ELF section {i} lies outside the file");
            _sections.Add(s);
        }
    }

    public static ElfImage Read(byte[] bytes) => new(bytes);
    public static ElfImage Read(string path) => new(File.ReadAllBytes(path));

    /// <summary>The versions this object requires from the libraries it links (.gnu.version_r).</summary>
    public IReadOnlyList<VersionNeed> VersionNeeds
    {
        get
        {
            var list = new List<VersionNeed>();
            foreach (var (_, aux) in EnumerateVernaux())
                list.Add(aux);
            return list;
        }
    }

    /// <summary>The version names this object defines (.gnu.version_d), e.g. GLIBCXX_3.4.30 for libstdc++.</summary>
    public IReadOnlyList<string> VersionDefinitions
    {
        get
        {
            var list = new List<string>();
            if (Find(ShtGnuVerdef) is not { } vd) return list;
            var strtab = _sections[(int)vd.Link];
            long entry = vd.Offset;
            for (uint i = 0; i < vd.Info; i++)
            {
                uint auxOffset = U32(entry + 12), next = U32(entry + 16);
                list.Add(CString(strtab, U32(entry + auxOffset)));
                if (next == 0) break;
                entry += next;
            }
            return list;
        }
    }

    public IReadOnlyList<DynamicSymbol> DynamicSymbols
    {
        get
        {
            var list = new List<DynamicSymbol>();
            if (Find(ShtDynsym) is not { } dynsym) return list;
            var strtab = _sections[(int)dynsym.Link];
            var versym = Find(ShtGnuVersym);
            long count = dynsym.Size / 24;
            for (long i = 0; i < count; i++)
            {
                long o = dynsym.Offset + i * 24;
                byte info = _bytes[o + 4];
                ushort version = versym is { } vs ? (ushort)(U16(vs.Offset + i * 2) & 0x7fff) : (ushort)0;
                list.Add(new DynamicSymbol(CString(strtab, U32(o)), info >> 4, info & 0xf, U16(o + 6) == 0, version));
            }
            return list;
        }
    }

    /// <summary>
    /// Makes a required symbol version optional: marks its version-needs entry weak (VER_FLG_WEAK) and
    /// turns every undefined symbol bound to it into an unversioned (global, index 1) weak reference,
    /// so the dynamic loader accepts a library that lacks the version and resolves those symbols to
    /// null if absent. Returns the names of the symbols it weakened. Edits this image's bytes only.
    /// </summary>
    public IReadOnlyList<string> WeakenVersionNeed(string versionName)
    {
        ushort? index = null;
        foreach (var (offset, aux) in EnumerateVernaux())
        {
            if (aux.Name != versionName) continue;
            W16(offset + 4, (ushort)(aux.Flags | VersionNeed.WeakFlag));
            index = aux.Index;
        }
        if (index is null)
            throw new InvalidOperationException($"the ELF file does not require version {versionName}");

        var dynsym = Find(ShtDynsym) ?? throw new InvalidDataException("ELF file has no .dynsym section");
        var versym = Find(ShtGnuVersym) ?? throw new InvalidDataException("ELF file has no .gnu.version section");
        var strtab = _sections[(int)dynsym.Link];
        var weakened = new List<string>();
        long count = dynsym.Size / 24;
        for (long i = 0; i < count; i++)
        {
            long vo = versym.Offset + i * 2;
            if ((U16(vo) & 0x7fff) != index) continue;
            long o = dynsym.Offset + i * 24;
            if (U16(o + 6) != 0)
                throw new InvalidOperationException($"symbol {CString(strtab, U32(o))} is defined with version {versionName}; only undefined references can be weakened");
            _bytes[o + 4] = (byte)((DynamicSymbol.Weak << 4) | (_bytes[o + 4] & 0xf));
            W16(vo, VerNdxGlobal);
            weakened.Add(CString(strtab, U32(o)));
        }
        return weakened;
    }

    IEnumerable<(long AuxOffset, VersionNeed Need)> EnumerateVernaux()
    {
        if (Find(ShtGnuVerneed) is not { } vn) yield break;
        var strtab = _sections[(int)vn.Link];
        long entry = vn.Offset;
        for (uint i = 0; i < vn.Info; i++)
        {
            ushort cnt = U16(entry + 2);
            string file = CString(strtab, U32(entry + 4));
            long aux = entry + U32(entry + 8);
            for (int j = 0; j < cnt; j++)
            {
                yield return (aux, new VersionNeed(file, CString(strtab, U32(aux + 8)), U16(aux + 4), U16(aux + 6)));
                uint nextAux = U32(aux + 12);
                if (nextAux == 0) break;
                aux += nextAux;
            }
            uint next = U32(entry + 12);
            if (next == 0) break;
            entry += next;
        }
    }

    Section? Find(uint type)
    {
        foreach (var s in _sections)
            if (s.Type == type) return s;
        return null;
    }

    string CString(Section strtab, uint offset)
    {
        long start = strtab.Offset + offset;
        long end = start;
        while (end < strtab.Offset + strtab.Size && _bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(_bytes, (int)start, (int)(end - start));
    }

    ushort U16(long o) => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan((int)o, 2));
    uint U32(long o) => BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan((int)o, 4));
    ulong U64(long o) => BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan((int)o, 8));
    void W16(long o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan((int)o, 2), v);
}
