import ArgumentParser
import Foundation
import ImageIO
import ModelHub
import Models
import Pipelines
import Tensor

/// Options `upscale` and `colorize` share: the model, sampling and tiling (the batch options are ``BatchArguments``).
struct DiffusionArguments: ParsableArguments {
    @OptionGroup var batch: BatchArguments
    @Option(help: "A latent-diffusion model: a registry name (upscale_x4, colorize) or a latest_net_LDM.safetensors of stylize train sr|colorize (default: the bundled one).") var model: String?
    @Option(help: "DDIM steps.") var steps = 25
    @Option(help: "Seed of the initial noise (the same seed gives the same output).") var seed: UInt64 = 0
    @Option(help: "DDIM η: 0 deterministic, 1 DDPM-like.") var eta: Double = 0
    @Option(help: "Refuse outputs with more pixels than this, to bound time.") var maxPixels = 4_194_304
    @Option(help: "Larger outputs are sampled in tiles of this many output pixels (a side), bounding memory.") var tileSize = 256
    @Option(help: "Overlap of neighbouring tiles in output pixels, blended smoothly.") var tileOverlap = 64

    func validate() throws {
        guard (1...1000).contains(steps) else { throw ValidationError("--steps must be between 1 and 1000") }
        guard (0...1).contains(eta) else { throw ValidationError("--eta must be between 0 and 1") }
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive") }
        guard tileSize >= 32 else { throw ValidationError("--tile-size must be at least 32") }
        guard (0..<tileSize).contains(tileOverlap) else { throw ValidationError("--tile-overlap must be between 0 and --tile-size − 1") }
    }

    /// The tiling in latent pixels of a model with downsampling factor `factor`.
    func tiling(factor: Int) -> LatentTiling { LatentTiling(side: max(tileSize / factor, 1), overlap: tileOverlap / factor) }

    /// Runs `apply` on each pending image, without a model (the bicubic baseline).
    func runWithoutModel(describe: String, apply: @escaping (Image, String) throws -> Image) throws {
        batch.applyThreads()
        try batch.batch(plan: try batch.plan(), model: describe, settings: "", start: Date()).execute(describe: describe) { image, path, _ in
            try apply(image, path)
        }
    }

    /// Loads the model (checking its kind and task) and runs `apply` on each pending image.
    func run(task: LatentDiffusionTask, bundled: String, describe: String, settings: String,
             apply: @escaping (LatentDiffusionModel, Image, String, @escaping (Int, Int) -> Void) throws -> Image) throws {
        batch.applyThreads()
        let start = Date()
        let plan = try batch.plan()
        let (loaded, source) = try ModelResolution.latentDiffusion(model, task: task, bundled: bundled, log: batch.log)
        guard steps <= loaded.schedule.trainingSteps else {
            throw ValidationError("--steps \(steps) is more than the \(loaded.schedule.trainingSteps) steps \(source.displayName) was trained with")
        }
        try batch.batch(plan: plan, model: source.displayName, settings: settings, start: start)
            .execute(describe: "\(describe), \(steps) DDIM steps") { image, path, progress in
                try apply(loaded, image, path, progress)
            }
    }

    /// The sampling settings the manifest records.
    var samplingSettings: String { "steps \(steps), seed \(seed), eta \(eta)" }
}

/// How `upscale` makes its outputs.
enum UpscaleMethod: String, CaseIterable, ExpressibleByArgument {
    /// The latent-diffusion model.
    case diffusion
    /// PIL-exact bicubic resampling: the baseline to compare with.
    case bicubic
}

/// `stylize upscale --model M INPUT... OUTPUT`: ×f super-resolution by latent diffusion.
struct Upscale: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upscale images ×4 (the model's factor) by latent diffusion.",
        discussion: """
        Each input gives an output f times as wide and high, with the same base name. Sampling is seeded \
        (--seed), so reruns give the same images. After sampling, --consistency-steps rounds of back-projection \
        make the output's ×f box downscale match the input (the sampled detail is kept). Outputs above \
        --tile-size are sampled in overlapping tiles blended at every denoising step, so memory stays bounded and \
        no seams appear. Existing outputs are skipped unless --overwrite; writes are atomic; a failing input does \
        not stop the others (exit code 1).

        Example:
          stylize upscale small/ big/                       # the bundled models/upscale_x4
          stylize upscale --model checkpoints/sr/latest_net_LDM.safetensors small/ big/ --steps 50
        """
    )
    @OptionGroup var arguments: DiffusionArguments
    @Option(help: "The upscaling factor; must be the model's (bicubic: default 4).") var scale: Int?
    @Option(help: "diffusion (the model) or bicubic (PIL-exact bicubic resampling, the baseline to compare with).") var method: UpscaleMethod = .diffusion
    @Option(help: "Rounds of back-projection after sampling: the output is corrected until its ×f box downscale matches the input (0: the raw sample).") var consistencySteps = LatentDiffusionModel.defaultConsistencySteps

    func validate() throws {
        if let scale, scale < 2 { throw ValidationError("--scale must be at least 2") }
        guard (0...100).contains(consistencySteps) else { throw ValidationError("--consistency-steps must be between 0 and 100") }
    }

    func run() throws {
        if method == .bicubic {
            let factor = scale ?? 4
            try arguments.runWithoutModel(describe: "bicubic ×\(factor)") { image, _ in
                let source = image.rgb().converted(toBitDepth: 8)
                return source.resized(width: source.width * factor, height: source.height * factor, filter: .bicubic)
            }
            return
        }
        let (steps, seed, eta, maxPixels, scale) = (arguments.steps, arguments.seed, arguments.eta, arguments.maxPixels, self.scale)
        let (arguments, consistencySteps) = (self.arguments, self.consistencySteps)
        try arguments.run(task: .superResolution, bundled: "upscale_x4", describe: "super-resolution",
                          settings: arguments.samplingSettings + ", consistency \(consistencySteps)") { model, image, path, progress in
            let factor = model.autoencoder.configuration.downsamplingFactor
            if let scale, scale != factor { throw CommandFailure("this model upscales ×\(factor), not ×\(scale)") }
            let pixels = image.width * image.height * factor * factor
            guard pixels <= maxPixels else {
                throw CommandFailure("\(path): the output would have \(pixels) pixels, above --max-pixels \(maxPixels)")
            }
            return model.upscale(image, steps: steps, seed: seed, eta: eta, tiling: arguments.tiling(factor: factor),
                                 consistencySteps: consistencySteps, progress: progress)
        }
    }
}

/// `stylize colorize --model M INPUT... OUTPUT`: colorization by latent diffusion, keeping each photo's lightness.
struct ColorizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "colorize",
        abstract: "Colorize gray or colour photos (their lightness is kept exactly).",
        discussion: """
        By latent diffusion (the bundled colorize model, or a latest_net_LDM.safetensors of stylize train colorize), \
        or with a GAN colorizer (latest_net_G.safetensors of stylize train colorize --method gan). \
        Colour inputs are colorized from their lightness alone. Outputs keep the input size and base name. \
        Images above --tile-size are sampled in overlapping, blended tiles (bounded memory, no seams). \
        Sampling is seeded (--seed). Existing outputs are skipped unless --overwrite; writes are atomic.

        Example:
          stylize colorize archive/ colored/                # the bundled models/colorize
          stylize colorize --model checkpoints/colorize/latest_net_LDM.safetensors archive/ colored/
          stylize colorize --model checkpoints/colorize-gan/latest_net_G.safetensors archive/ colored/
        """
    )
    @OptionGroup var arguments: DiffusionArguments


    func run() throws {
        let (steps, seed, eta, maxPixels, arguments) = (arguments.steps, arguments.seed, arguments.eta, arguments.maxPixels, self.arguments)
        if let reference = arguments.model {
            // A GAN colorizer (stylize train colorize --method gan) runs through the translation pipeline.
            let source = try ModelResolution.resolve(reference, log: arguments.batch.log)
            if source.kind == .generator {
                let generator = try ModelResolution.generator(source, architecture: nil)
                guard generator.architecture.isColorizer else {
                    throw CommandFailure("\(source.displayName) is a \(generator.architecture.inputChannels) → \(generator.architecture.outputChannels) "
                                         + "channel generator, not a colorizer (1 → 2); run it with `stylize --model \(reference) INPUT... OUTPUT`")
                }
                let pipeline = TranslationPipeline(generator: generator, maximumPixels: maxPixels)
                arguments.batch.applyThreads()
                try arguments.batch.batch(plan: try arguments.batch.plan(), model: source.displayName, settings: "gan colorizer", start: Date())
                    .execute(describe: "colorization (\(generator.architecture.name) GAN)") { image, path, progress in
                        try pipeline.translate(image, path: path, progress: progress)
                    }
                return
            }
        }
        try arguments.run(task: .colorization, bundled: "colorize", describe: "colorization",
                          settings: arguments.samplingSettings) { model, image, path, progress in
            guard image.width * image.height <= maxPixels else {
                throw CommandFailure("\(path): \(image.width)x\(image.height) is above --max-pixels \(maxPixels)")
            }
            return model.colorize(image, steps: steps, seed: seed, eta: eta,
                                  tiling: arguments.tiling(factor: model.autoencoder.configuration.downsamplingFactor), progress: progress)
        }
    }
}
