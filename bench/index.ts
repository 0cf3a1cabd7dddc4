// `npm run bench -- <name> [options]`: one benchmark per module, each exporting `main(argv) -> exit code`.
// Add a benchmark with one entry in `benchmarks`; a module is loaded only when it is the one asked for.

interface BenchmarkModule {
  main(argv: readonly string[]): Promise<number>;
}

const benchmarks: Record<string, { summary: string; load: () => Promise<BenchmarkModule> }> = {
  kernels: {
    summary: 'fp32 matmul and VGG16 conv2d forward / backward-input kernels, convis vs TF.js WebGPU',
    load: () => import('./kernels.js'),
  },
  cpu: {
    summary: 'the same matmul and VGG16 conv kernels on the native C++ cpu backend (wall time), beside lavapipe',
    load: () => import('./cpu.js'),
  },
  models: {
    summary: 'VGG16 and AlexNet forward and saliency (input gradient) at 224, webgpu and cpu, beside onnxruntime-node',
    load: () => import('./models.js'),
  },
  saliency: {
    summary: 'saliency(model, images, { target }) end to end on VGG16, webgpu and cpu, beside TF.js WebGPU (tf.grad)',
    load: () => import('./saliency.js'),
  },
  profile: {
    summary: 'one VGG16 saliency call dispatch by dispatch (timestamp queries): GPU ms and TFLOP/s per conv layer and per kind',
    load: () => import('./profile.js'),
  },
  localise: {
    summary: 'weakly supervised localisation without the network at 224 (max-flow, GMM fits, localise) on one core; mask IoU vs thresholding',
    load: () => import('./localise.js'),
  },
};

function usage(): string {
  return [
    'usage: npm run bench -- <name> [options]     (npm run bench -- <name> --help for its options)',
    '',
    'benchmarks:',
    ...Object.entries(benchmarks).map(([name, b]) => `  ${name.padEnd(10)} ${b.summary}`),
  ].join('\n');
}

async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  const entry = Object.hasOwn(benchmarks, name) ? benchmarks[name] : undefined;
  if (!entry) {
    console.error(`bench: unknown benchmark ${JSON.stringify(name)}\n\n${usage()}`);
    return 1;
  }
  const bench = await entry.load();
  return bench.main(rest);
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`bench: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
