// Removes one unneeded symbol-version need from an ELF64 little-endian shared library.
//
// Why: TorchSharp 0.107's libLibTorchSharp.so was linked by GCC 13, whose <iostream> emits an
// unreferenced marker symbol `_ZSt21ios_base_library_initv@GLIBCXX_3.4.32`. That one marker makes
// the library need GLIBCXX_3.4.32 from libstdc++, which Debian 12 and Ubuntu 22.04 do not have
// (they stop at 3.4.30), so the dynamic loader refuses the library. The marker is never called.
//
// What: unlink the version's Vernaux entry from .gnu.version_r (fixing the predecessor's vna_next,
// or the Verneed's vn_aux when it is the first, and the Verneed's vn_cnt) and set the marker
// symbol's .gnu.version entry to 1 (global, unversioned) — only after checking that no other
// dynamic symbol and no dynamic relocation uses that version. The file size never changes.
//
// This file is compiled twice: by MSBuild's RoslynCodeTaskFactory (eng/TorchSharpLoaderFix.targets,
// the task class below) and by tests/Aced.TorchSharp.Tests with ACED_ELF_PATCHER_ONLY defined
// (the patcher only). It therefore uses only netstandard2.0 APIs.
namespace Aced.Eng
{
    using System;
    using System.IO;
    using System.Text;

    /// <summary>Outcome of <see cref="ElfVersionNeedPatcher.Patch"/>.</summary>
    public enum ElfPatchOutcome
    {
        /// <summary>The version need was removed and the file rewritten.</summary>
        Patched,

        /// <summary>The file needs no change (the version is not needed: already patched or never needed).</summary>
        NotNeeded,
    }

    /// <summary>Removes a version need that only an unreferenced marker symbol uses.</summary>
    public static class ElfVersionNeedPatcher
    {
        private const uint ShtRel = 9;
        private const uint ShtRela = 4;
        private const uint ShtDynsym = 11;
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const uint ShtGnuVersym = 0x6fffffff;

        /// <summary>
        /// Patches <paramref name="path"/> in place (temporary file + rename, timestamp kept).
        /// Throws <see cref="InvalidDataException"/> naming the file when the file is not an ELF64
        /// little-endian library or when another symbol or a relocation uses the version.
        /// </summary>
        public static ElfPatchOutcome Patch(string path, string versionName, string markerSymbol)
        {
            byte[] image = File.ReadAllBytes(path);
            ElfPatchOutcome outcome = PatchImage(image, versionName, markerSymbol, path);
            if (outcome == ElfPatchOutcome.NotNeeded)
            {
                return outcome;
            }

            DateTime lastWrite = File.GetLastWriteTimeUtc(path);
            string temporary = path + ".aced-patch.tmp";
            try
            {
                // Copy first so the temporary keeps the file's mode (execute bits), then overwrite
                // its bytes (same length).
                File.Copy(path, temporary, true);
                using (var stream = new FileStream(temporary, FileMode.Open, FileAccess.Write))
                {
                    stream.Write(image, 0, image.Length);
                    stream.SetLength(image.Length);
                }

                File.SetLastWriteTimeUtc(temporary, lastWrite);
                // rename(2) over the output copy: atomic, and even if that copy were a hard link
                // into the NuGet cache, only this directory entry changes, never the cache.
                File.Replace(temporary, path, null);
            }
            finally
            {
                if (File.Exists(temporary))
                {
                    File.Delete(temporary);
                }
            }

            File.SetLastWriteTimeUtc(path, lastWrite);
            return outcome;
        }

        /// <summary>Patches an in-memory image; returns whether anything changed.</summary>
        public static ElfPatchOutcome PatchImage(byte[] image, string versionName, string markerSymbol, string fileName)
        {
            if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
            {
                throw new InvalidDataException(fileName + ": not an ELF file.");
            }

            if (image[4] != 2 || image[5] != 1)
            {
                throw new InvalidDataException(fileName + ": only ELF64 little-endian files are supported (EI_CLASS=" + image[4] + ", EI_DATA=" + image[5] + ").");
            }

            long sectionTable = (long)U64(image, 0x28);
            int sectionEntrySize = U16(image, 0x3A);
            int sectionCount = U16(image, 0x3C);
            if (sectionTable <= 0 || sectionEntrySize < 64 || sectionTable + (long)sectionCount * sectionEntrySize > image.Length)
            {
                throw new InvalidDataException(fileName + ": the section header table lies outside the file.");
            }

            Section verneed = default(Section);
            Section versym = default(Section);
            Section dynsym = default(Section);
            bool hasVerneed = false;
            bool hasVersym = false;
            bool hasDynsym = false;
            for (int i = 0; i < sectionCount; i++)
            {
                Section s = ReadSection(image, sectionTable + (long)i * sectionEntrySize, i);
                if (s.Type == ShtGnuVerneed)
                {
                    verneed = s;
                    hasVerneed = true;
                }
                else if (s.Type == ShtGnuVersym)
                {
                    versym = s;
                    hasVersym = true;
                }
                else if (s.Type == ShtDynsym)
                {
                    dynsym = s;
                    hasDynsym = true;
                }
            }

            if (!hasVerneed || !hasVersym || !hasDynsym)
            {
                return ElfPatchOutcome.NotNeeded;
            }

            Section dynstr = ReadSection(image, sectionTable + (long)verneed.Link * sectionEntrySize, (int)verneed.Link);
            CheckInside(image, verneed, fileName);
            CheckInside(image, versym, fileName);
            CheckInside(image, dynsym, fileName);
            CheckInside(image, dynstr, fileName);

            // Find the Vernaux entry naming the version.
            long need = verneed.Offset;
            long needEnd = verneed.Offset + verneed.Size;
            long foundNeed = -1;
            long foundAux = -1;
            long previousAux = -1;
            while (need >= verneed.Offset && need + 16 <= needEnd)
            {
                int count = U16(image, need + 2);
                long aux = need + U32(image, need + 8);
                long previous = -1;
                for (int a = 0; a < count && aux + 16 <= needEnd; a++)
                {
                    string name = ReadString(image, dynstr, U32(image, aux + 8), fileName);
                    if (name == versionName)
                    {
                        foundNeed = need;
                        foundAux = aux;
                        previousAux = previous;
                        break;
                    }

                    uint nextAux = U32(image, aux + 12);
                    if (nextAux == 0)
                    {
                        break;
                    }

                    previous = aux;
                    aux += nextAux;
                }

                uint nextNeed = U32(image, need + 12);
                if (foundAux >= 0 || nextNeed == 0)
                {
                    break;
                }

                need += nextNeed;
            }

            if (foundAux < 0)
            {
                return ElfPatchOutcome.NotNeeded;
            }

            int versionIndex = U16(image, foundAux + 6) & 0x7fff;
            int needCount = U16(image, foundNeed + 2);
            if (needCount < 2)
            {
                throw new InvalidDataException(fileName + ": " + versionName + " is the only version needed from its library; removing it is not supported.");
            }

            // Every dynamic symbol with that version must be the marker symbol (undefined).
            long symbolCount = dynsym.Size / 24;
            if (versym.Size / 2 != symbolCount)
            {
                throw new InvalidDataException(fileName + ": .gnu.version has " + (versym.Size / 2) + " entries for " + symbolCount + " dynamic symbols.");
            }

            long markerIndex = -1;
            for (long i = 0; i < symbolCount; i++)
            {
                int version = U16(image, versym.Offset + i * 2) & 0x7fff;
                if (version != versionIndex)
                {
                    continue;
                }

                long symbol = dynsym.Offset + i * 24;
                string symbolName = ReadString(image, dynstr, U32(image, symbol), fileName);
                if (symbolName != markerSymbol || U16(image, symbol + 6) != 0 || markerIndex >= 0)
                {
                    throw new InvalidDataException(fileName + ": symbol '" + symbolName + "' also uses " + versionName + "; the version need cannot be removed safely.");
                }

                markerIndex = i;
            }

            // No dynamic relocation may refer to the marker symbol.
            if (markerIndex >= 0)
            {
                for (int i = 0; i < sectionCount; i++)
                {
                    Section s = ReadSection(image, sectionTable + (long)i * sectionEntrySize, i);
                    if ((s.Type != ShtRela && s.Type != ShtRel) || s.Link != dynsym.Index)
                    {
                        continue;
                    }

                    CheckInside(image, s, fileName);
                    int entrySize = s.Type == ShtRela ? 24 : 16;
                    for (long r = s.Offset; r + entrySize <= s.Offset + s.Size; r += entrySize)
                    {
                        ulong info = U64(image, r + 8);
                        if ((long)(info >> 32) == markerIndex)
                        {
                            throw new InvalidDataException(fileName + ": a relocation refers to '" + markerSymbol + "'; the version need cannot be removed safely.");
                        }
                    }
                }
            }

            // Unlink the Vernaux entry.
            uint removedNext = U32(image, foundAux + 12);
            if (previousAux < 0)
            {
                // First in the chain: the Verneed now points at the successor.
                W32(image, foundNeed + 8, U32(image, foundNeed + 8) + removedNext);
            }
            else
            {
                uint previousNext = U32(image, previousAux + 12);
                W32(image, previousAux + 12, removedNext == 0 ? 0u : previousNext + removedNext);
            }

            W16(image, foundNeed + 2, needCount - 1);
            if (markerIndex >= 0)
            {
                long entry = versym.Offset + markerIndex * 2;
                W16(image, entry, 1 | (U16(image, entry) & 0x8000));
            }

            return ElfPatchOutcome.Patched;
        }

        private struct Section
        {
            public int Index;
            public uint Type;
            public long Offset;
            public long Size;
            public uint Link;
        }

        private static Section ReadSection(byte[] image, long header, int index)
        {
            Section s;
            s.Index = index;
            s.Type = U32(image, header + 4);
            s.Offset = (long)U64(image, header + 0x18);
            s.Size = (long)U64(image, header + 0x20);
            s.Link = U32(image, header + 0x28);
            return s;
        }

        private static void CheckInside(byte[] image, Section s, string fileName)
        {
            if (s.Offset < 0 || s.Size < 0 || s.Offset + s.Size > image.Length)
            {
                throw new InvalidDataException(fileName + ": section " + s.Index + " lies outside the file.");
            }
        }

        private static string ReadString(byte[] image, Section strings, uint offset, string fileName)
        {
            long start = strings.Offset + offset;
            long end = start;
            long limit = strings.Offset + strings.Size;
            while (end < limit && image[end] != 0)
            {
                end++;
            }

            if (offset >= strings.Size || end >= limit)
            {
                throw new InvalidDataException(fileName + ": a string offset lies outside .dynstr.");
            }

            return Encoding.ASCII.GetString(image, (int)start, (int)(end - start));
        }

        private static int U16(byte[] b, long o)
        {
            return b[o] | (b[o + 1] << 8);
        }

        private static uint U32(byte[] b, long o)
        {
            return (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24));
        }

        private static ulong U64(byte[] b, long o)
        {
            return U32(b, o) | ((ulong)U32(b, o + 4) << 32);
        }

        private static void W16(byte[] b, long o, int v)
        {
            b[o] = (byte)v;
            b[o + 1] = (byte)(v >> 8);
        }

        private static void W32(byte[] b, long o, uint v)
        {
            b[o] = (byte)v;
            b[o + 1] = (byte)(v >> 8);
            b[o + 2] = (byte)(v >> 16);
            b[o + 3] = (byte)(v >> 24);
        }
    }

#if !ACED_ELF_PATCHER_ONLY
    /// <summary>MSBuild task: patches each file of <see cref="Files"/> that exists.</summary>
    public sealed class PatchTorchSharpLoader : Microsoft.Build.Utilities.Task
    {
        /// <summary>The library copies to patch (in the output or publish folder, never the NuGet cache).</summary>
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = new Microsoft.Build.Framework.ITaskItem[0];

        /// <summary>The version need to remove.</summary>
        public string VersionName { get; set; } = "GLIBCXX_3.4.32";

        /// <summary>The only symbol allowed to use it.</summary>
        public string MarkerSymbol { get; set; } = "_ZSt21ios_base_library_initv";

        /// <inheritdoc />
        public override bool Execute()
        {
            foreach (Microsoft.Build.Framework.ITaskItem item in Files)
            {
                string path = item.ItemSpec;
                if (!File.Exists(path))
                {
                    continue;
                }

                try
                {
                    ElfPatchOutcome outcome = ElfVersionNeedPatcher.Patch(path, VersionName, MarkerSymbol);
                    if (outcome == ElfPatchOutcome.Patched)
                    {
                        Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "TorchSharp loader fix: removed the " + VersionName + " need from " + path);
                    }
                }
                catch (Exception e)
                {
                    Log.LogError("TorchSharp loader fix: " + e.Message + " Set AcedTorchSharpLoaderFix=false to skip the fix.");
                    return false;
                }
            }

            return !Log.HasLoggedErrors;
        }
    }
#endif
}
