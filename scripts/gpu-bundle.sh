#!/usr/bin/env bash
# Assembles the git-ignored bundle a GPU machine needs for scripts/gpu-check.sh including the Node
# checks, in .gpu/src: the compiled TypeScript (dist/, no maps or types), the addon built here with
# CUDA (sm_80/86/89/90a + PTX; stripped), node-gyp-build, this machine's node binary (xz) and the two
# fixtures the checks use. The sources are not in it: the device call copies the working tree in
# (the device tool carries at most 64 MiB, tree included):
#   run(command="tar --exclude=./.gpu -cf - . | tar -x -C .gpu/src && cd .gpu/src &&
#                OUT=$OUT GN_TOTAL_S=400 bash scripts/gpu-check.sh", carry=[".gpu"])
# Build the addon with CUDA first (JOBS=2 npm run build:native). The addon must come from the same
# commit as the tree the call copies: .gpu/src/BUNDLE_COMMIT records it.
set -eu
cd "$(dirname "$0")/.."
[ -f build/Release/gptneo.node ] || { echo "build the addon first (npm run build:native)"; exit 1; }
node -e "const a=require('./build/Release/gptneo.node'); if(!a.buildInfo().cuda){console.error('addon built without CUDA');process.exit(1)}"
npx tsc -p tsconfig.json

B=.gpu/src
rm -rf "$B"
mkdir -p "$B/build/Release" "$B/node_modules" "$B/.node-bin" "$B/.gpu/fixtures"
mkdir -p "$B/dist"
(cd dist && find . -type f ! -name '*.map' ! -name '*.d.ts' -exec cp --parents {} "../$B/dist/" \;)
strip --strip-unneeded -o "$B/build/Release/gptneo.node" build/Release/gptneo.node
cp -r node_modules/node-gyp-build "$B/node_modules/"
[ -f .node-bin/node.xz ] || { mkdir -p .node-bin && xz -T2 -6 -c "$(command -v node)" > .node-bin/node.xz; }
cp .node-bin/node.xz "$B/.node-bin/"
# The fixtures, with only the reference tensors the GPU checks read (test/helpers/cuda-model-checks.ts:
# logits_i, last_hidden_state_i): the gpt2vocab case's decode and batch logits are 5 MB of the carry limit.
for c in tiny-neo tiny-neo-gpt2vocab; do
  cp -r ../shared/fixtures/$c "$B/.gpu/fixtures/"
  chmod -R u+w "$B/.gpu/fixtures/$c"
  node scripts/trim-safetensors.mjs ../shared/fixtures/$c/reference.safetensors "$B/.gpu/fixtures/$c/reference.safetensors" \
    logits_0 logits_1 logits_2 last_hidden_state_0 last_hidden_state_1 last_hidden_state_2
done
{
  git rev-parse HEAD
  git diff --quiet HEAD -- csrc lib binding.gyp CMakeLists.txt sources.json || echo "(the tree had uncommitted changes)"
} > "$B/BUNDLE_COMMIT"
cat > .gpu/README.txt <<EOF
GPU bundle (git-ignored), made by scripts/gpu-bundle.sh at the commit in src/BUNDLE_COMMIT. Use it only
while the working tree's csrc/ and lib/ still match that commit (the addon and dist/ came from it);
otherwise rebuild the addon with CUDA and run scripts/gpu-bundle.sh again.
  run(command="tar --exclude=./.gpu -cf - . | tar -x -C .gpu/src && cd .gpu/src && OUT=\$OUT GN_TOTAL_S=400 bash scripts/gpu-check.sh", carry=[".gpu"])
EOF
bundle=$(du -sb .gpu | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)
echo "bundle $((bundle / 1024)) KiB + tracked tree $((tree / 1024)) KiB (limit 65536 KiB)"
[ $((bundle + tree)) -le $((64 * 1024 * 1024)) ] || { echo "over the device tool's 64 MiB carry limit"; exit 1; }
