#!/usr/bin/env bash
# Rebuilds the ELF fixtures of ElfImageTests (committed, so tests need no compiler). Run from this folder.
set -euo pipefail
mkdir -p new old
gcc -O1 -shared -fPIC -DWITH_NEW -Wl,--version-script=stub-new.map -Wl,-soname,libelfstub.so -o new/libelfstub.so stub.c
gcc -O1 -shared -fPIC -Wl,--version-script=stub-old.map -Wl,-soname,libelfstub.so -o old/libelfstub.so stub.c
gcc -O1 -shared -fPIC -Wl,-rpath,'$ORIGIN' -Wl,--enable-new-dtags -o libfixture.so fixture.c -Lnew -lelfstub
strip --strip-unneeded new/libelfstub.so old/libelfstub.so libfixture.so
