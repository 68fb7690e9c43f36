import Datasets
import ImageIO
import Foundation
import Models
import Pipelines
import NN
import Tensor
import Training

/// The measurements behind `stylize bench`, kept apart from argument parsing so tests can run them small.
struct BenchmarkSuite {
    let repeats: Int
    let sizes: [Int]
    var layerBreakdown = false
    /// Run the engine measurements (GEMM, convolution, generator forward).
    var engine = true
    /// The training-iteration cases to run (keys of ``trainingCaseKeys``).
    var training: Set<String> = Set(BenchmarkSuite.trainingCaseKeys)
    /// Latent-diffusion models to time (the bundled ones by default): VAE encode/decode, one UNet step, a whole run.
    var diffusionModels: [(task: LatentDiffusionTask, url: URL)] = []
    var diffusionSteps = 25
    /// Time the published LDM ×4 super-resolution model's networks (random weights of the real size).
    var publishedSuperResolution = false
    /// Also run a whole 128 → 512 upscale with it at the default 100 steps (minutes).
    var publishedSuperResolutionWhole = false
    let log: (String) -> Void

    struct Report {
        var dictionary: [String: Any] = [:]
    }

    /// Median seconds of `repeats` runs of `body` after one warm-up.
    func median(_ body: () -> Void) -> Double {
        median(setup: {}, { _ in body() })
    }

    /// Median seconds of `repeats` runs of `body` after one warm-up; `setup` runs untimed before each, and its result
    /// is what `body` works on (a fresh graph for a backward pass, which frees the graph it walks).
    func median<Prepared>(setup: () -> Prepared, _ body: (Prepared) -> Void) -> Double {
        body(setup())
        var times: [Double] = []
        for _ in 0..<repeats {
            let prepared = setup()
            let start = DispatchTime.now().uptimeNanoseconds
            body(prepared)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        return times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
    }

    func run() -> Report {
        var report = Report()
        report.dictionary["threads"] = Parallel.threadCount
        report.dictionary["repeats"] = repeats
        report.dictionary["openblas_core"] = GEMMKernels.openBLASCore
        log("stylize bench — \(Parallel.threadCount) threads, median of \(repeats) runs after warm-up, OpenBLAS \(GEMMKernels.openBLASCore) kernels")

        if engine {
            let (gemmRate, gemmFlops) = measureGEMM(into: &report)
            measureConvolution(gemmRate: gemmRate, gemmFlops: gemmFlops, into: &report)
            // What the first two measurements parked in the pool is not the generator's memory.
            BufferPool.drain()
            measureGenerator(into: &report)
        }
        if !training.isEmpty { measureTraining(into: &report) }
        if !diffusionModels.isEmpty { measureDiffusion(into: &report) }
        if publishedSuperResolution { measurePublishedSuperResolution(into: &report) }
        return report
    }

    /// For each bundled restoration model, what the issue's speed bars time: upscaling a 256×256 photo to 1024×1024 and
    /// colorizing a 1024×1024 photo: the stage-1 estimate alone (`--detail 0`), the commands' defaults and the most
    /// detail (`--detail 1`: the flow with ``diffusionSteps`` Euler steps), back-projection for the upscale, with the
    /// peak RSS over all of them.
    func measureDiffusion(into report: inout Report) {
        var results: [String: Any] = [:]
        for (task, url) in diffusionModels {
            guard let model = try? RestorationModel.load(contentsOf: url) else {
                log("\(url.path): not a two-stage restoration model; skipped")
                continue
            }
            let pipeline = RestorationPipeline(model: model)
            let side = task == .superResolution ? 256 : 1024
            let photo = Image(tensor: Tensor.randomUniform([1, 3, side, side], low: -1, high: 1, generator: RandomGenerator(seed: 1)))
            BufferPool.drain()
            MemoryStatistics.resetPeak()
            let defaultDetail = model.flow == nil ? 0 : (task == .superResolution ? Upscale.defaultDetail : ColorizeCommand.defaultDetail)
            let run = { (detail: Float) in
                if task == .superResolution {
                    _ = pipeline.upscale(photo, detail: detail, steps: diffusionSteps, seed: 0)
                } else {
                    _ = pipeline.colorize(photo, detail: detail, steps: diffusionSteps, seed: 0, temperature: ColorizeCommand.defaultTemperature,
                                          vibrance: ColorizeCommand.defaultVibrance)
                }
            }
            let estimate = median { run(0) }
            let whole = defaultDetail == 0 ? estimate : median { run(defaultDetail) }
            let detailed = model.flow == nil ? estimate : median { run(1) }
            let peak = Double(MemoryStatistics.peakResidentBytes()) / 1_048_576
            let what = task == .superResolution ? "upscale 256→1024" : "colorize 1024²"
            results[task.rawValue] = ["stage1_seconds": estimate, "default_seconds": whole, "default_detail": defaultDetail,
                                      "detail1_seconds": detailed, "flow_steps": diffusionSteps, "peak_rss_mb": peak, "has_flow": model.flow != nil]
            log(String(format: "%@: %@ stage 1 %.2f s, default (--detail %g) %.2f s, --detail 1 %.2f s (%d flow steps), peak RSS %.0f MB",
                       task.rawValue, what, estimate, Double(defaultDetail), whole, detailed, diffusionSteps, peak))
        }
        report.dictionary["restoration"] = results
    }

    /// The published CompVis LDM ×4 super-resolution model (diffusers layout) from random weights of its real size (no
    /// download): one UNet step at 64² and 128² latents (the input image's size), the VQ decoder from 128² latents to a
    /// 512² image, each with the peak RSS; and the 128 → 512 upscale at the default 100 steps estimated from them.
    func measurePublishedSuperResolution(into report: inout Report) {
        BufferPool.drain()
        MemoryStatistics.resetPeak()
        let unet = DiffusersUNet(configuration: .compVisSuperResolution, generator: RandomGenerator(seed: 1))
        unet.eval()
        var results: [String: Any] = ["unet_parameters": unet.parameterCount]
        log("LDM super-resolution 4x (CompVis, diffusers layout), random weights: UNet \(unet.parameterCount) parameters")
        var step128 = 0.0
        for side in [64, 128] {
            let input = Tensor.randomNormal([1, 6, side, side])
            let seconds = median { withoutGradient { _ = unet.forward(input, timestep: 500) } }
            let peak = Double(MemoryStatistics.peakResidentBytes()) / 1_048_576
            if side == 128 { step128 = seconds }
            results["unet_step_\(side)"] = ["seconds": seconds, "peak_rss_mb": peak]
            log(String(format: "  UNet step, %3dx%-3d latents            %7.3f s   peak RSS %6.0f MB", side, side, seconds, peak))
        }
        let vqvae = DiffusersVQModel(configuration: .compVisSuperResolution, generator: RandomGenerator(seed: 2))
        vqvae.eval()
        let latents = Tensor.randomNormal([1, 3, 128, 128])
        let decode = median { withoutGradient { _ = vqvae.decode(latents) } }
        let peak = Double(MemoryStatistics.peakResidentBytes()) / 1_048_576
        let whole = 100 * step128 + decode
        results["vq_decode_128_to_512"] = ["seconds": decode, "peak_rss_mb": peak]
        results["upscale_128_to_512_100_steps_estimated_seconds"] = whole
        log(String(format: "  VQ decode 128x128 -> 512x512           %7.3f s   peak RSS %6.0f MB", decode, peak))
        log(String(format: "  128 -> 512 at 100 DDIM steps (estimated: 100 UNet steps + decode)  %7.1f s", whole))
        if publishedSuperResolutionWhole {
            // The whole pipeline once as `stylize upscale` runs it by default: 100 steps, η 1, tiles of 512 output
            // pixels (128 latent: one tile at this size), peak RSS included.
            let model = LDMSuperResolutionModel(unet: unet, vqvae: vqvae, scheduler: .compVisSuperResolution, folder: URL(fileURLWithPath: "/"))
            let random = RandomGenerator(seed: 3)
            let image = Tensor.randomUniform([1, 3, 128, 128], low: -1, high: 1, generator: random)
            let noise = Tensor.randomNormal([1, 3, 128, 128], generator: random)
            MemoryStatistics.resetPeak()
            let started = DispatchTime.now().uptimeNanoseconds
            _ = model.upscale(image, noise: noise, steps: 100, eta: 1, tiling: LatentTiling(side: 128, overlap: 16)) { _ in
                Tensor.randomNormal([1, 3, 128, 128], generator: random)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let wholePeak = Double(MemoryStatistics.peakResidentBytes()) / 1_048_576
            results["upscale_128_to_512_100_steps"] = ["seconds": seconds, "peak_rss_mb": wholePeak]
            log(String(format: "  128 -> 512 at 100 DDIM steps, eta 1 (measured)  %7.1f s   peak RSS %6.0f MB", seconds, wholePeak))
        }
        report.dictionary["ldm_super_resolution"] = results
    }

    /// One training iteration (forward, backward and Adam steps of every network), batch 1, with the peak RSS of
    /// the case (networks, optimiser moments and activations): CycleGAN resnet_9blocks at 256², CycleGAN
    /// resnet_6blocks at 128², pix2pix unet_256 at 256² (reference defaults otherwise: ngf = ndf = 64, basic PatchGAN).
    static let trainingCaseKeys = ["fastcut_128", "cut_128", "cyclegan_resnet_6blocks_128", "cyclegan_resnet_9blocks_128",
                                   "pix2pix_unet_256_256", "cyclegan_resnet_9blocks_256"]

    func measureTraining(into report: inout Report) {
        let options = TrainingOptions(name: "bench", checkpoints: URL(fileURLWithPath: "/nonexistent"))
        var cases: [(key: String, label: String, side: Int, make: () -> any TrainingRecipe)] = []
        // Smallest first, so no case starts with memory an earlier, larger one left mapped.
        for mode in [CUTMode.fastcut, .cut] {
            cases.append(("\(mode.rawValue)_128", "\(mode == .cut ? "CUT" : "FastCUT") iteration cut_resnet_9blocks 128x128", 128, {
                CUTRecipe(options: CUTOptions(mode: mode), training: options)
            }))
        }
        for (blocks, side) in [(6, 128), (9, 128), (9, 256)] {
            cases.append(("cyclegan_resnet_\(blocks)blocks_\(side)", "CycleGAN iteration resnet_\(blocks)blocks \(side)x\(side)", side, {
                var cycle = CycleGANOptions()
                cycle.architecture = GeneratorArchitecture(kind: .resnet, depth: blocks, normalization: .instance)
                return CycleGANRecipe(options: cycle, training: options)
            }))
        }
        cases.insert(("pix2pix_unet_256_256", "pix2pix iteration unet_256 256x256", 256, {
            Pix2PixRecipe(options: Pix2PixOptions(), training: options)
        }), at: cases.count - 1)
        var results: [String: Any] = [:]
        for entry in cases where training.contains(entry.key) {
            BufferPool.drain()
            MemoryStatistics.resetPeak()
            let base = Double(MemoryStatistics.residentBytes()) / 1_048_576
            let tensorBase = BufferPool.liveBytes
            BufferPool.resetPeakLiveBytes()
            let recipe = entry.make()
            let generator = RandomGenerator(seed: 3)
            let batch = Batch(a: Tensor.randomUniform([1, 3, entry.side, entry.side], low: -1, high: 1, generator: generator),
                              b: Tensor.randomUniform([1, 3, entry.side, entry.side], low: -1, high: 1, generator: generator),
                              pathsA: [], pathsB: [], indices: [0])
            let seconds = median { _ = recipe.step(batch) }
            let peak = Double(MemoryStatistics.peakResidentBytes()) / 1_048_576
            // Also the case's own memory: the RSS peak less what the process held before it (libraries, code), and the
            // peak of live tensor bytes (networks, optimiser state, activations; without the allocator's caches).
            let tensors = Double(BufferPool.peakLiveBytes - tensorBase) / 1_048_576
            results[entry.key] = ["seconds": seconds, "peak_rss_mb": peak, "peak_above_base_mb": peak - base, "peak_tensor_mb": tensors]
            log(String(format: "%-42@ %7.3f s   peak RSS %6.0f MB (%4.0f MB above the %3.0f MB before the case), tensors %5.0f MB",
                       entry.label as NSString, seconds, peak, peak - base, base, tensors))
        }
        report.dictionary["training_iteration"] = results
    }

    /// sgemm on the GEMM shape of the 3×3 256→256 convolution on 64×64.
    func measureGEMM(into report: inout Report) -> (rate: Double, flops: Double) {
        let (m, n, k) = (4096, 256, 2304)
        let a = Tensor.randomNormal([m, k]), b = Tensor.randomNormal([k, n]), c = Tensor.zeros([m, n])
        let gemmSeconds = median {
            GEMMKernels.multiply(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
        }
        let gemmFlops = 2.0 * Double(m * n * k)
        let gemmRate = gemmFlops / gemmSeconds / 1e9
        report.dictionary["sgemm_gflops"] = gemmRate
        log(String(format: "sgemm M=4096 N=256 K=2304          %7.1f GFLOP/s  (%.2f ms)", gemmRate, gemmSeconds * 1e3))
        return (gemmRate, gemmFlops)
    }

    /// conv2d 3×3 256→256 on 64×64, padding 1, forward and backward.
    func measureConvolution(gemmRate: Double, gemmFlops: Double, into report: inout Report) {
        let input = Tensor.randomNormal([1, 256, 64, 64], requiresGrad: true)
        let weight = Tensor.randomNormal([256, 256, 3, 3], standardDeviation: 0.02, requiresGrad: true)
        let forwardSeconds = median { withoutGradient { _ = Tensor.conv2d(input, weight: weight, padding: 1) } }
        let forwardRate = gemmFlops / forwardSeconds / 1e9
        ConvolutionStrategy.allowsFastForwardPaths = false
        let gemmLoweredSeconds = median { withoutGradient { _ = Tensor.conv2d(input, weight: weight, padding: 1) } }
        ConvolutionStrategy.allowsFastForwardPaths = true
        let gemmLoweredRate = gemmFlops / gemmLoweredSeconds / 1e9
        report.dictionary["conv2d_forward_gemm_lowering_gflops"] = gemmLoweredRate
        report.dictionary["conv2d_forward_gemm_lowering_fraction_of_sgemm"] = gemmLoweredRate / gemmRate
        let gradient = Tensor.randomNormal([1, 256, 64, 64])
        // backward() frees the graph it walks, so every round records a fresh forward pass (untimed).
        func timeBackward() -> Double {
            median(setup: { () -> Tensor in
                input.zeroGrad()
                weight.zeroGrad()
                return Tensor.conv2d(input, weight: weight, padding: 1)
            }) { output in
                output.backward(gradient)
            }
        }
        let backwardSeconds = timeBackward()
        let backwardRate = 2 * gemmFlops / backwardSeconds / 1e9
        ConvolutionStrategy.allowsFastBackwardPaths = false
        let loweredBackwardSeconds = timeBackward()
        ConvolutionStrategy.allowsFastBackwardPaths = true
        let loweredBackwardRate = 2 * gemmFlops / loweredBackwardSeconds / 1e9
        report.dictionary["conv2d_backward_gemm_lowering_gflops"] = loweredBackwardRate
        report.dictionary["conv2d_forward_gflops"] = forwardRate
        report.dictionary["conv2d_forward_fraction_of_sgemm"] = forwardRate / gemmRate
        report.dictionary["conv2d_backward_gflops"] = backwardRate
        log(String(format: "conv2d 3x3 256->256 64x64 forward   %7.1f GFLOP/s  (%.2f ms, %.0f%% of sgemm; Winograd, direct-conv FLOPs)",
                   forwardRate, forwardSeconds * 1e3, 100 * forwardRate / gemmRate))
        log(String(format: "  same, GEMM lowering only          %7.1f GFLOP/s  (%.2f ms, %.0f%% of sgemm)",
                   gemmLoweredRate, gemmLoweredSeconds * 1e3, 100 * gemmLoweredRate / gemmRate))
        log(String(format: "conv2d 3x3 256->256 64x64 backward  %7.1f GFLOP/s  (%.2f ms, input + weight; Winograd, direct-conv FLOPs)",
                   backwardRate, backwardSeconds * 1e3))
        log(String(format: "  same, GEMM lowering only          %7.1f GFLOP/s  (%.2f ms, %.0f%% of sgemm)",
                   loweredBackwardRate, loweredBackwardSeconds * 1e3, 100 * loweredBackwardRate / gemmRate))
        // Winograd F(4×4, 3×3) against F(2×2, 3×3) on smaller planes (where its weight transform weighs more).
        var variants: [String: Any] = [:]
        for side in [64, 32, 16] {
            let x = Tensor.randomNormal([1, 256, side, side])
            let f4 = median { withoutGradient { _ = Tensor.conv2d(x, weight: weight, padding: 1) } }
            ConvolutionStrategy.allowsWinogradF4 = false
            let f2 = median { withoutGradient { _ = Tensor.conv2d(x, weight: weight, padding: 1) } }
            ConvolutionStrategy.allowsWinogradF4 = true
            variants["\(side)"] = ["default_ms": f4 * 1e3, "f2x2_only_ms": f2 * 1e3]
            log(String(format: "  3x3 256->256 %2dx%-2d forward: %6.2f ms (default), %6.2f ms (F(2x2,3x3) only)", side, side, f4 * 1e3, f2 * 1e3))
        }
        report.dictionary["conv2d_winograd_variants"] = variants
    }

    /// CycleGAN resnet_9blocks forward at each size, with the peak RSS during those runs.
    func measureGenerator(into report: inout Report) {
        let generator = ResnetGenerator(blocks: 9, generator: RandomGenerator(seed: 1))
        generator.eval()
        report.dictionary["resnet_9blocks_parameters"] = generator.parameterCount
        log("resnet_9blocks (ngf 64, instance norm): \(generator.parameterCount) parameters")
        var sizeResults: [String: Any] = [:]
        var previous: Double?
        for size in sizes {
            let image = Tensor.randomUniform([1, 3, size, size], low: -1, high: 1)
            BufferPool.drain()
            MemoryStatistics.resetPeak()
            let seconds = median { withoutGradient { _ = generator(image) } }
            let peak = MemoryStatistics.peakResidentBytes()
            var entry: [String: Any] = ["seconds": seconds, "peak_rss_mb": Double(peak) / 1_048_576]
            var line = String(format: "resnet_9blocks forward %4dx%-4d      %7.3f s   peak RSS %6.0f MB",
                              size, size, seconds, Double(peak) / 1_048_576)
            if let previous {
                entry["ratio_to_previous_size"] = seconds / previous
                line += String(format: "   (%.2fx the previous size)", seconds / previous)
            }
            previous = seconds
            sizeResults[String(size)] = entry
            log(line)
        }
        report.dictionary["resnet_9blocks_forward"] = sizeResults
        measureUnet(into: &report)
        if layerBreakdown, let size = sizes.first {
            report.dictionary["resnet_9blocks_layers"] = layerTimes(generator, size: size)
        }
    }

    /// pix2pix unet_256 (ngf 64, batch norm in evaluation mode) forward at 256×256, batch 1.
    func measureUnet(into report: inout Report) {
        let unet = UnetGenerator(downsamplings: 8, filters: 64, normalization: .batch, generator: RandomGenerator(seed: 2))
        unet.eval()
        let image = Tensor.randomUniform([1, 3, 256, 256], low: -1, high: 1)
        BufferPool.drain()
        MemoryStatistics.resetPeak()
        let seconds = median { withoutGradient { _ = unet(image) } }
        let peak = Double(MemoryStatistics.peakResidentBytes()) / 1_048_576
        report.dictionary["unet_256_forward"] = ["seconds": seconds, "peak_rss_mb": peak, "parameters": unet.parameterCount]
        log(String(format: "unet_256 forward 256x256 (ngf 64, %d parameters)  %7.3f s   peak RSS %6.0f MB",
                   unet.parameterCount, seconds, peak))
    }

    /// Median time of each top-level layer of the generator at `size`, grouped by layer kind.
    func layerTimes(_ generator: ResnetGenerator, size: Int) -> [String: Double] {
        var totals: [String: Double] = [:]
        var current = Tensor.randomUniform([1, 3, size, size], low: -1, high: 1)
        for (index, layer) in generator.model.layers.enumerated() {
            let input = current
            var output = input
            let seconds = median { output = withoutGradient { layer(input) } }
            let kind: String
            switch layer {
            case let conv as Conv2d: kind = "conv \(conv.weight.shape[3])x\(conv.weight.shape[3]) stride \(conv.stride)"
            case is ConvTranspose2d: kind = "conv_transpose"
            case is ResnetBlock: kind = "resnet block"
            default: kind = String(describing: type(of: layer))
            }
            totals[kind, default: 0] += seconds
            log(String(format: "  model.%-2d %-22@ %8.2f ms  %@", index, kind as NSString, seconds * 1e3, "\(output.shape)" as NSString))
            current = output
        }
        return totals
    }
}

/// Process memory figures from /proc (Linux).
enum MemoryStatistics {
    /// Resets the kernel's peak-RSS counter (VmHWM) for this process, where the kernel allows it.
    static func resetPeak() {
        // Hand memory freed by earlier cases back to the kernel first, so it does not count towards the next peak.
        // glibc's malloc_trim is not in Swift's Glibc module; look it up.
        if let symbol = dlsym(nil, "malloc_trim") {
            _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
        }
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// VmHWM: the peak resident set size since start or the last reset, in bytes.
    static func peakResidentBytes() -> Int { statusField("VmHWM:") }

    /// VmRSS: the resident set size now, in bytes.
    static func residentBytes() -> Int { statusField("VmRSS:") }

    private static func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return digits * 1024
        }
        return 0
    }
}
