#!/usr/bin/env bash
# Prepares what the GPU machine needs to run the Node checks (all git-ignored, carried by the
# device call): .node-bin/node.xz, .gpu/fixtures, dist/, build/Release/gptneo.node (built here
# with CUDA for sm_80..90), node_modules/node-gyp-build.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .node-bin .gpu/fixtures
[ -f .node-bin/node.xz ] || xz -T2 -6 -c "$(command -v node)" > .node-bin/node.xz
rm -rf .gpu/fixtures/*
for c in tiny-neo tiny-neo-gpt2vocab; do cp -r ../shared/fixtures/$c .gpu/fixtures/; chmod -R u+w .gpu/fixtures/$c; done
npx tsc -p tsconfig.json
[ -f build/Release/gptneo.node ] || { echo "build the addon first (npm run build:native)"; exit 1; }
node -e "const a=require('./build/Release/gptneo.node'); if(!a.buildInfo().cuda){console.error('addon built without CUDA');process.exit(1)}"
du -sh .node-bin .gpu dist build/Release/gptneo.node node_modules/node-gyp-build
