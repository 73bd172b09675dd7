using System.Runtime.InteropServices;
using MetaRl.Torch;

namespace MetaRl.Tests.Torch;

/// <summary>
/// The ELF edit behind the TorchSharp fix, on a small fixture built like the real case
/// (Fixtures/elf/build.sh): libfixture.so needs STUB_2.0 from libelfstub.so only to take the address
/// of stub_new, and the "old" libelfstub.so defines STUB_1.0 only, as Debian 12's libstdc++ lacks GLIBCXX_3.4.32.
/// </summary>
public class ElfImageTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "elf", name);

    [Fact]
    public void ReadsVersionNeedsAndDefinitions()
    {
        var fixture = ElfImage.Read(Fixture("libfixture.so"));
        Assert.Contains(new VersionNeed("libelfstub.so", "STUB_2.0", 0, 3), fixture.VersionNeeds);
        Assert.Contains(new VersionNeed("libelfstub.so", "STUB_1.0", 0, 2), fixture.VersionNeeds);
        var stubNew = fixture.DynamicSymbols.Single(s => s.Name == "stub_new");
        Assert.True(stubNew.IsUndefined);
        Assert.Equal(DynamicSymbol.Global, stubNew.Binding);
        Assert.Equal(3, stubNew.VersionIndex);

        Assert.Equal(["libelfstub.so", "STUB_1.0"], ElfImage.Read(Fixture("old/libelfstub.so")).VersionDefinitions);
        Assert.Equal(["libelfstub.so", "STUB_1.0", "STUB_2.0"], ElfImage.Read(Fixture("new/libelfstub.so")).VersionDefinitions);
    }

    [Fact]
    public void MissingVersionsAreOnlyThoseTheProviderLacks()
    {
        var fixture = ElfImage.Read(Fixture("libfixture.so"));
        Assert.Equal(["STUB_2.0"], TorchNative.MissingVersions(fixture, "libelfstub.so", ElfImage.Read(Fixture("old/libelfstub.so"))));
        // Where the system library is new enough nothing is to be done.
        Assert.Empty(TorchNative.MissingVersions(fixture, "libelfstub.so", ElfImage.Read(Fixture("new/libelfstub.so"))));
    }

    [Fact]
    public void WeakeningMarksTheNeedWeakAndTheSymbolWeakAndUnversioned()
    {
        var fixture = ElfImage.Read(Fixture("libfixture.so"));
        Assert.Equal(["stub_new"], fixture.WeakenVersionNeed("STUB_2.0"));

        var edited = ElfImage.Read(fixture.Bytes);
        Assert.True(edited.VersionNeeds.Single(n => n.Name == "STUB_2.0").IsWeak);
        Assert.False(edited.VersionNeeds.Single(n => n.Name == "STUB_1.0").IsWeak);
        var stubNew = edited.DynamicSymbols.Single(s => s.Name == "stub_new");
        Assert.Equal(DynamicSymbol.Weak, stubNew.Binding);
        Assert.Equal(1, stubNew.VersionIndex);
        var stubOld = edited.DynamicSymbols.Single(s => s.Name == "stub_old");
        Assert.Equal(DynamicSymbol.Global, stubOld.Binding);
        Assert.Equal(2, stubOld.VersionIndex);
        // A weakened image has nothing missing left.
        Assert.Empty(TorchNative.MissingVersions(edited, "libelfstub.so", ElfImage.Read(Fixture("old/libelfstub.so"))));
        // The original file is untouched.
        Assert.False(ElfImage.Read(Fixture("libfixture.so")).VersionNeeds.Single(n => n.Name == "STUB_2.0").IsWeak);
    }

    [Fact]
    public unsafe void EditedCopyLoadsAgainstTheOldLibraryWhereTheOriginalCannot()
    {
        string dir = Directory.CreateTempSubdirectory("metarl-elf-").FullName;
        try
        {
            File.Copy(Fixture("libfixture.so"), Path.Combine(dir, "libfixture.so"));
            File.Copy(Fixture("old/libelfstub.so"), Path.Combine(dir, "libelfstub.so"));
            var error = Assert.Throws<DllNotFoundException>(() => NativeLibrary.Load(Path.Combine(dir, "libfixture.so")));
            Assert.Contains("STUB_2.0", error.Message);

            var image = ElfImage.Read(Path.Combine(dir, "libfixture.so"));
            image.WeakenVersionNeed("STUB_2.0");
            string edited = Path.Combine(dir, "libfixture-weak.so");
            File.WriteAllBytes(edited, image.Bytes);
            IntPtr handle = NativeLibrary.Load(edited);
            var answer = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "fixture_answer");
            var hasNew = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "fixture_has_new");
            Assert.Equal(42, answer());
            Assert.Equal(0, hasNew()); // the weak reference resolved to null, as intended
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void RefusesNonElfAndUnknownVersions()
    {
        Assert.Throws<InvalidDataException>(() => ElfImage.Read(new byte[100]));
        var fixture = ElfImage.Read(Fixture("libfixture.so"));
        Assert.Throws<InvalidOperationException>(() => fixture.WeakenVersionNeed("STUB_9.9"));
    }
}
