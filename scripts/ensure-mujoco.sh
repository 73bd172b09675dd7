#!/usr/bin/env bash
# Makes sure what the MuJoCo envs and their tests need is installed: Debian's MuJoCo 2.2.2 (libmujoco2.2.2,
# libmujoco-dev: the library and its headers), gcc (the layout test compiles native/mujoco/layout.c) and Mesa's
# EGL with its software driver (libegl1, libegl-mesa0, libgl1-mesa-dri: `metarl render` draws MuJoCo's frames headless).
# As root it installs what is missing with apt-get; otherwise it prints the exact command and exits 2.
set -uo pipefail
missing=()
[ -e /usr/lib/x86_64-linux-gnu/libmujoco.so.2.2.2 ] || missing+=(libmujoco2.2.2)
[ -e /usr/include/mujoco/mujoco.h ] || missing+=(libmujoco-dev)
command -v gcc > /dev/null || missing+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libEGL.so.1 ] || missing+=(libegl1)
[ -e /usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0 ] || missing+=(libegl-mesa0)
[ -e /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so ] || missing+=(libgl1-mesa-dri)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "MuJoCo's envs and tests need ${missing[*]}; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi
echo "installing ${missing[*]} (apt-get)"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" > /tmp/metarl-apt.log 2>&1; then
  apt-get update -q > /tmp/metarl-apt.log 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >> /tmp/metarl-apt.log 2>&1 \
    || { echo "apt-get install ${missing[*]} failed; see /tmp/metarl-apt.log" >&2; exit 2; }
fi
