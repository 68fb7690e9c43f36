import ArgumentParser
import Foundation
import ImageIO
import ModelHub
import NN
import Models
import Pipelines
import Tensor

/// Options `upscale` and `colorize` share: the model, sampling and tiling (the batch options are ``BatchArguments``).
struct DiffusionArguments: ParsableArguments {
    @OptionGroup var batch: BatchArguments
    @Option(help: "A model: a registry name (upscale_x4, colorize), a file of stylize train sr|colorize, or (upscale) a diffusers LDM super-resolution folder (default: the bundled one).") var model: String?
    @Option(help: "How far stage 2 moves the output from the stage-1 estimate: 0 the estimate alone (the lowest error), 1 the flow's image (the most detail).") var detail: Float?
    @Option(help: "Sampling steps (default: 4 Euler steps of a two-stage model's flow; 25 DDIM steps of a one-stage model).") var steps: Int?
    @Option(help: "Seed of the sampling noise (the same seed gives the same output).") var seed: UInt64 = 0
    @Option(help: "DDIM η: 0 deterministic, 1 DDPM-like (default: 0 for one-stage models, 1 for the published LDM super-resolution folder).") var eta: Double?
    @Option(help: "Refuse outputs with more pixels than this, to bound time.") var maxPixels = 4_194_304
    @Option(help: "Larger outputs are sampled in tiles of this many output pixels (a side), bounding memory (default 256; 512 for the published LDM folder).") var tileSize: Int?
    @Option(help: "Overlap of neighbouring tiles in output pixels, blended smoothly.") var tileOverlap = 64

    func validate() throws {
        if let steps { guard (1...1000).contains(steps) else { throw ValidationError("--steps must be between 1 and 1000") } }
        if let detail { guard (0...1).contains(detail) else { throw ValidationError("--detail must be between 0 and 1") } }
        if let eta { guard (0...1).contains(eta) else { throw ValidationError("--eta must be between 0 and 1") } }
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive") }
        guard (tileSize ?? 256) >= 32 else { throw ValidationError("--tile-size must be at least 32") }
        guard (0..<(tileSize ?? 256)).contains(tileOverlap) else { throw ValidationError("--tile-overlap must be between 0 and --tile-size − 1") }
    }

    /// The tiling in latent pixels of a model with downsampling factor `factor`.
    /// The tiling in latent pixels of a model with downsampling factor `factor` (`--tile-size`, else `side` output pixels).
    func tiling(factor: Int, defaultSide side: Int = 256) -> LatentTiling {
        LatentTiling(side: max((tileSize ?? side) / factor, 1), overlap: tileOverlap / factor)
    }

    /// Runs `apply` on each pending image, without a model (the bicubic baseline).
    func runWithoutModel(describe: String, apply: @escaping (Image, String) throws -> Image) throws {
        batch.applyThreads()
        try batch.batch(plan: try batch.plan(), model: describe, settings: "", start: Date()).execute(describe: describe) { image, path, _ in
            try apply(image, path)
        }
    }

    /// Loads the model (checking its kind and task) and runs `apply` on each pending image; `settings` describes what
    /// changes the outputs, for the manifest.
    func run(task: LatentDiffusionTask, bundled: String, describe: String,
             settings: (RestorationChoice) -> String,
             apply: @escaping (RestorationChoice, Image, String, @escaping (Int, Int) -> Void) throws -> Image) throws {
        batch.applyThreads()
        let start = Date()
        let plan = try batch.plan()
        let (choice, source) = try ModelResolution.restoration(model, task: task, bundled: bundled, log: batch.log)
        if case .oneStage(let loaded) = choice, let steps, steps > loaded.schedule.trainingSteps {
            throw ValidationError("--steps \(steps) is more than the \(loaded.schedule.trainingSteps) steps \(source.displayName) was trained with")
        }
        try batch.batch(plan: plan, model: source.displayName, settings: settings(choice), start: start)
            .execute(describe: describe + Self.describe(choice)) { image, path, progress in
                try apply(choice, image, path, progress)
            }
    }

    static func describe(_ choice: RestorationChoice) -> String {
        switch choice {
        case .twoStage(let model): return model.flow == nil ? " (stage 1)" : " (two-stage)"
        case .oneStage: return " (one-stage latent diffusion)"
        }
    }

    /// `--detail` for `model`: the given value, else the default — 0 for a model without a flow.
    func detail(for model: RestorationModel, default value: Float) -> Float { model.flow == nil ? 0 : (detail ?? value) }
}

/// How `upscale` makes its outputs.
enum UpscaleMethod: String, CaseIterable, ExpressibleByArgument {
    /// The model (two-stage, or one-stage latent diffusion).
    case diffusion
    /// PIL-exact bicubic resampling: the baseline to compare with.
    case bicubic
}

/// `stylize upscale --model M INPUT... OUTPUT`: ×4 super-resolution.
struct Upscale: ParsableCommand {
    /// The published diffusers LDM super-resolution model (a folder with unet/, vqvae/, scheduler/), as
    /// `LDMSuperResolutionPipeline`: each input resized (Lanczos) to multiples of 32, DDIM over the latents with the image
    /// concatenated (default 100 steps, η 1 as the model card), VQ decoding; outputs above --tile-size in blended tiles.
    func runPublished(folder: URL, name: String) throws {
        let arguments = self.arguments
        if let scale, scale != 4 { throw CommandFailure("this model upscales ×4, not ×\(scale)") }
        arguments.batch.applyThreads()
        let start = Date()
        let plan = try arguments.batch.plan()
        let model = try LDMSuperResolutionModel.load(from: folder)
        // η 1 by default: the model card's setting.
        let (steps, eta) = (arguments.steps ?? 100, arguments.eta ?? 1)
        guard steps <= model.scheduler.trainingSteps else {
            throw ValidationError("--steps \(steps) is more than the \(model.scheduler.trainingSteps) steps the model was trained with")
        }
        let settings = "steps \(steps), eta \(eta), seed \(arguments.seed)"
        try arguments.batch.batch(plan: plan, model: name, settings: settings, start: start)
            .execute(describe: "super-resolution (published LDM ×\(model.factor))") { image, path, progress in
                let source = image.rgb().converted(toBitDepth: 8)
                let (width, height) = (source.width - source.width % 32, source.height - source.height % 32)
                guard width >= 32, height >= 32 else { throw CommandFailure("\(path): smaller than 32×32 pixels") }
                let input = (width, height) == (source.width, source.height) ? source : source.resized(width: width, height: height, filter: .lanczos)
                let random = RandomGenerator(seed: arguments.seed)
                let noise = Tensor.randomNormal([1, model.unet.configuration.outChannels, height, width], generator: random)
                let pixels = width * height * model.factor * model.factor
                guard pixels <= arguments.maxPixels else {
                    throw CommandFailure("\(path): the output would have \(pixels) pixels, above --max-pixels \(arguments.maxPixels)")
                }
                let result = model.upscale(input.tensor(), noise: noise, steps: steps, eta: eta, tiling: arguments.tiling(factor: model.factor, defaultSide: 512),
                                           stepNoise: { _ in
                    Tensor.randomNormal([1, model.unet.configuration.outChannels, height, width], generator: random)
                }, progress: progress)
                return Image(tensor: result.image)
            }
    }


    static let configuration = CommandConfiguration(
        abstract: "Upscale images ×4 (the model's factor).",
        discussion: """
        Each input gives an output f times as wide and high, with the same base name. A two-stage model (the bundled \
        upscale_x4) first predicts the lowest-error upscale; --detail moves it towards its latent flow's image, \
        which has the texture an average cannot have (0: the estimate alone; 1: the flow's image). Then \
        --consistency-steps rounds of back-projection make the output's PIL-bicubic ÷4 downscale match the input. \
        Sampling is seeded (--seed). Outputs above --tile-size run in overlapping, blended tiles (bounded memory, no \
        seams). Existing outputs are skipped unless --overwrite; writes are atomic; a failing input does not stop the \
        others (exit code 1).

        Examples:
          stylize upscale small/ big/                       # the bundled upscale_x4, default detail
          stylize upscale small/ big/ --detail 0            # the lowest-error estimate
          stylize upscale small/ big/ --detail 1            # the most detail
          stylize upscale --method bicubic small/ big-bicubic/
          stylize upscale --model ldm-super-resolution-4x-openimages/ small/ big/   # the published model (diffusers folder)

        A diffusers folder (unet/, vqvae/, scheduler/ with config.json and diffusion_pytorch_model.safetensors or .bin, \
        as CompVis/ldm-super-resolution-4x-openimages) runs as LDMSuperResolutionPipeline: each input resized (Lanczos) \
        to multiples of 32, 100 DDIM steps with η 1 by default (--steps, --eta, --seed), VQ decoding, in blended tiles \
        above --tile-size (default 512 for it). It is slow on a CPU: about 1.3 s per step for a 128×128 input (see the README).
        """
    )
    @OptionGroup var arguments: DiffusionArguments
    @Option(help: "The upscaling factor; must be the model's (bicubic: default 4).") var scale: Int?
    @Option(help: "diffusion (the model), or bicubic (PIL-exact bicubic resampling, the baseline to compare with).") var method: UpscaleMethod = .diffusion
    @Option(help: "Rounds of back-projection: the output is corrected until its PIL-bicubic ÷f downscale matches the input (0: none).") var consistencySteps = 4

    /// The default --detail of two-stage models (the balanced setting; see models/upscale_x4/README.md).
    static let defaultDetail: Float = 0.5

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
        if let reference = arguments.model {
            let folder = URL(fileURLWithPath: (reference as NSString).expandingTildeInPath)
            if LDMSuperResolutionModel.isDiffusersFolder(folder) { return try runPublished(folder: folder, name: folder.lastPathComponent) }
            // A registry entry of the published model: fetched into the cache on first use.
            if !FileManager.default.fileExists(atPath: folder.path), let registry = try? ModelRegistry.locate(),
               let entry = try? registry.entry(named: reference), entry.kind == .diffusersFolder {
                let source = try ModelResolution.resolve(reference, log: arguments.batch.log)
                return try runPublished(folder: source.url, name: source.displayName)
            }
        }
        let (arguments, scale, consistencySteps) = (self.arguments, self.scale, self.consistencySteps)
        try arguments.run(task: .superResolution, bundled: "upscale_x4", describe: "super-resolution", settings: { choice in
            switch choice {
            case .twoStage(let model):
                return "detail \(arguments.detail(for: model, default: Self.defaultDetail)), steps \(arguments.steps ?? 4), seed \(arguments.seed), consistency \(consistencySteps)"
            case .oneStage: return "steps \(arguments.steps ?? 25), seed \(arguments.seed), eta \(arguments.eta ?? 0), consistency \(consistencySteps)"
            }
        }) { choice, image, path, progress in
            let factor: Int
            switch choice {
            case .twoStage(let model):
                guard case .upscaler(let upscaler) = model.estimator else { throw CommandFailure("not a super-resolution model") }
                factor = upscaler.configuration.factor
            case .oneStage(let model): factor = model.autoencoder.configuration.downsamplingFactor
            }
            if let scale, scale != factor { throw CommandFailure("this model upscales ×\(factor), not ×\(scale)") }
            let pixels = image.width * image.height * factor * factor
            guard pixels <= arguments.maxPixels else {
                throw CommandFailure("\(path): the output would have \(pixels) pixels, above --max-pixels \(arguments.maxPixels)")
            }
            switch choice {
            case .twoStage(let model):
                var pipeline = RestorationPipeline(model: model)
                if let flow = model.flow { pipeline.tiling = arguments.tiling(factor: flow.autoencoder.configuration.downsamplingFactor) }
                return pipeline.upscale(image, detail: arguments.detail(for: model, default: Self.defaultDetail), steps: arguments.steps ?? 4,
                                        seed: arguments.seed, consistencySteps: consistencySteps, progress: progress)
            case .oneStage(let model):
                return model.upscale(image, steps: arguments.steps ?? 25, seed: arguments.seed, eta: arguments.eta ?? 0,
                                     tiling: arguments.tiling(factor: factor), consistencySteps: consistencySteps, progress: progress)
            }
        }
    }
}

/// `stylize colorize --model M INPUT... OUTPUT`: colorization keeping each photo's lightness.
struct ColorizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "colorize",
        abstract: "Colorize gray or colour photos (their lightness is kept exactly).",
        discussion: """
        With a two-stage model (the bundled colorize, or a file of stylize train colorize): stage 1 predicts a \
        distribution over colours per pixel and takes its annealed mean (--temperature: lower is more saturated and \
        patchier); --vibrance scales the colour; --detail moves it towards the latent flow's image. With a GAN \
        colorizer (stylize train colorize --method gan) the chroma is predicted directly. Colour inputs are colorized \
        from their lightness alone. Outputs keep the input size and base name. Large images run in overlapping, blended \
        tiles. Sampling is seeded (--seed). Existing outputs are skipped unless --overwrite; writes are atomic.

        Examples:
          stylize colorize archive/ colored/                # the bundled colorize
          stylize colorize archive/ colored/ --vibrance 1.3 # more vivid
          stylize colorize --model checkpoints/colorize-gan/latest_net_G.safetensors archive/ colored/
        """
    )
    @OptionGroup var arguments: DiffusionArguments
    @Option(help: "Annealed-mean temperature of the colour distribution (Zhang et al.: 0.38; 1 is the plain mean, greyer).") var temperature: Float = ColorizeCommand.defaultTemperature
    @Option(help: "Scales the colour (1: as predicted; above 1 more vivid).") var vibrance: Float = ColorizeCommand.defaultVibrance

    /// The defaults of the bundled model's balanced setting (see models/colorize/README.md).
    static let defaultTemperature: Float = 0.38
    static let defaultVibrance: Float = 0.9
    static let defaultDetail: Float = 0

    func validate() throws {
        guard temperature > 0, temperature <= 2 else { throw ValidationError("--temperature must be in (0, 2]") }
        guard vibrance >= 0, vibrance <= 3 else { throw ValidationError("--vibrance must be between 0 and 3") }
    }

    func run() throws {
        let (arguments, temperature, vibrance) = (self.arguments, self.temperature, self.vibrance)
        if let reference = arguments.model {
            // A GAN colorizer (stylize train colorize --method gan) runs through the translation pipeline.
            let source = try ModelResolution.resolve(reference, log: arguments.batch.log)
            if source.kind == .generator {
                let generator = try ModelResolution.generator(source, architecture: nil)
                guard generator.architecture.isColorizer else {
                    throw CommandFailure("\(source.displayName) is a \(generator.architecture.inputChannels) → \(generator.architecture.outputChannels) "
                                         + "channel generator, not a colorizer (1 → 2); run it with `stylize --model \(reference) INPUT... OUTPUT`")
                }
                let pipeline = TranslationPipeline(generator: generator, maximumPixels: arguments.maxPixels)
                arguments.batch.applyThreads()
                try arguments.batch.batch(plan: try arguments.batch.plan(), model: source.displayName, settings: "gan colorizer", start: Date())
                    .execute(describe: "colorization (\(generator.architecture.name) GAN)") { image, path, progress in
                        try pipeline.translate(image, path: path, progress: progress)
                    }
                return
            }
        }
        try arguments.run(task: .colorization, bundled: "colorize", describe: "colorization", settings: { choice in
            switch choice {
            case .twoStage(let model):
                return "detail \(arguments.detail(for: model, default: Self.defaultDetail)), temperature \(temperature), vibrance \(vibrance), steps \(arguments.steps ?? 4), seed \(arguments.seed)"
            case .oneStage: return "steps \(arguments.steps ?? 25), seed \(arguments.seed), eta \(arguments.eta ?? 0)"
            }
        }) { choice, image, path, progress in
            guard image.width * image.height <= arguments.maxPixels else {
                throw CommandFailure("\(path): \(image.width)x\(image.height) is above --max-pixels \(arguments.maxPixels)")
            }
            switch choice {
            case .twoStage(let model):
                var pipeline = RestorationPipeline(model: model)
                if let flow = model.flow { pipeline.tiling = arguments.tiling(factor: flow.autoencoder.configuration.downsamplingFactor) }
                return pipeline.colorize(image, detail: arguments.detail(for: model, default: Self.defaultDetail), steps: arguments.steps ?? 4,
                                         seed: arguments.seed, temperature: temperature, vibrance: vibrance, progress: progress)
            case .oneStage(let model):
                return model.colorize(image, steps: arguments.steps ?? 25, seed: arguments.seed, eta: arguments.eta ?? 0,
                                      tiling: arguments.tiling(factor: model.autoencoder.configuration.downsamplingFactor), progress: progress)
            }
        }
    }
}
