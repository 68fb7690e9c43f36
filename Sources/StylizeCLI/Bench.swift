import ArgumentParser
import Foundation
import ModelHub
import Models
import NN
import Tensor

/// `stylize bench`: engine speed and memory on this machine.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure GEMM, convolution and generator speed and peak memory.",
        discussion: """
        Prints medians over repeated runs after a warm-up run:
          sgemm         OpenBLAS on M=4096 N=256 K=2304 (the GEMM of a 3x3 256->256 conv on 64x64)
          conv2d        forward and backward (input + weight gradients) of that convolution
          resnet_9blocks  CycleGAN generator forward (ngf 64, instance norm), batch 1, at each --sizes,
                        with the process's peak resident memory during those runs
          diffusion     the bundled upscale_x4 (256x256 to 1024x1024) and colorize (1024x1024) at their defaults, and
                        the published LDM 4x model's networks from random weights of the real size (a UNet step at
                        64x64 and 128x128 latents, the VQ decoder 128 -> 512)
          ldm_sr_upscale_128  a whole 128x128 -> 512x512 upscale with that model at its defaults (100 DDIM
                        steps, eta 1): about 2.5 minutes
          training      one iteration (forward, backward, Adam) of FastCUT and CUT (cut_resnet_9blocks, G, D,
                        F) at 128x128, CycleGAN resnet_6blocks and resnet_9blocks at 128x128 and
                        resnet_9blocks at 256x256 (G_A, G_B, D_A, D_B), pix2pix unet_256 256x256, batch 1,
                        with each case's peak resident memory (one case: --suites cut_128)
        """
    )

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(help: "Timed runs per measurement (after one warm-up run).")
    var repeats = 5

    @Option(parsing: .upToNextOption, help: "Image sides for the generator forward pass.")
    var sizes: [Int] = [256, 512]

    @Flag(help: "Also time each layer of the generator at the first size.")
    var layers = false

    @Option(parsing: .upToNextOption, help: "Which measurements: engine, training (default both), diffusion (the bundled upscale_x4 and colorize models), or single training cases.")
    var suites: [BenchSuiteName] = [BenchSuiteName("engine"), BenchSuiteName("training")]

    @Option(help: "Flow steps of the upscale/colorize in the diffusion suite.")
    var steps = 4
    @Option(name: .customLong("diffusion-steps"), help: .hidden) var stepsAlias: Int?

    @Option(help: "Worker threads (default: all cores, or STYLIZE_THREADS).")
    var threads: Int?

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard sizes.allSatisfy({ $0 >= 4 && $0 % 4 == 0 && $0 <= 4096 }) else {
            throw ValidationError("--sizes must be multiples of 4 between 4 and 4096")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard !suites.isEmpty else { throw ValidationError("--suites needs at least one suite") }
    }

    func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        let suites = self.suites.map(\.name)
        var diffusionModels: [(task: LatentDiffusionTask, url: URL)] = []
        if suites.contains("diffusion") {
            let folder = try ModelRegistry.locate().folder
            for (task, name) in [(LatentDiffusionTask.superResolution, "upscale_x4"), (.colorization, "colorize")] {
                let url = folder.appendingPathComponent("\(name)/\(name).safetensors")
                if FileManager.default.fileExists(atPath: url.path) { diffusionModels.append((task, url)) }
                else if !json { print("\(url.path): not there; \(task) skipped") }
            }
        }
        var suite = BenchmarkSuite(repeats: repeats, sizes: sizes, layerBreakdown: layers, engine: suites.contains("engine"),
                                    training: suites.contains("training") ? Set(BenchmarkSuite.trainingCaseKeys)
                                        : Set(suites.filter(BenchmarkSuite.trainingCaseKeys.contains)), log: json ? { _ in } : { print($0); fflush(nil) })
        suite.diffusionModels = diffusionModels
        suite.publishedSuperResolution = suites.contains("diffusion") || suites.contains("ldm_sr_upscale_128")
        suite.publishedSuperResolutionWhole = suites.contains("ldm_sr_upscale_128")
        suite.diffusionSteps = stepsAlias ?? steps
        let report = suite.run()
        if json {
            let data = try JSONSerialization.data(withJSONObject: report.dictionary, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

/// A `--suites` value: a suite (`engine`, `training`, `diffusion`) or one training case.
struct BenchSuiteName: ExpressibleByArgument, Decodable {
    let name: String
    init(_ name: String) { self.name = name }
    init?(argument: String) {
        guard Self.allValueStrings.contains(argument) else { return nil }
        name = argument
    }
    static var allValueStrings: [String] { ["engine", "training", "diffusion", "ldm_sr_upscale_128"] + BenchmarkSuite.trainingCaseKeys }
    var defaultValueDescription: String { name }
}
