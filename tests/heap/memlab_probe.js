// Load a .heapsnapshot with memlab's own parser; write what the tests compare as JSON to OUT.
// usage: node memlab_probe.js FILE OUT [NODE_ID...]   (memlab prints progress on stdout)
const fs = require("fs");
const { getFullHeapFromFile } = require("@memlab/heap-analysis");

async function main() {
  const [file, out, ...ids] = process.argv.slice(2);
  const heap = await getFullHeapFromFile(file);
  let count = 0;
  let selfSize = 0;
  heap.nodes.forEach((n) => {
    count += 1;
    selfSize += n.self_size;
  });
  const retained = {};
  for (const id of ids) {
    const node = heap.getNodeById(Number(id));
    retained[id] = node ? node.retainedSize : null;
  }
  const result = {
    node_count: count,
    total_self_size: selfSize,
    root_retained: heap.nodes.get(0).retainedSize,
    retained,
  };
  fs.writeFileSync(out, JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
