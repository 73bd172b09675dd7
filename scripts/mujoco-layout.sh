#!/usr/bin/env bash
# Regenerates src/MetaRl/Envs/Mujoco/MujocoLayout.g.cs from MuJoCo's headers (needs gcc and libmujoco-dev).
# With --print, writes the generated file to stdout instead (the layout test compares it with the committed one).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(mktemp -d)/layout"
gcc -std=c11 -Wall -Werror -o "$bin" native/mujoco/layout.c
if [ "${1:-}" = "--print" ]; then "$bin"; else "$bin" > src/MetaRl/Envs/Mujoco/MujocoLayout.g.cs; fi
rm -f "$bin"
