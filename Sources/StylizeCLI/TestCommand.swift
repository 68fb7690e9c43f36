import ArgumentParser
import Datasets
import Foundation
import ImageIO
import ModelHub
import Models
import Pipelines
import NN
import SafeFiles
import Tensor
import Training

/// `stylize test --model M --dataroot D`: run a generator over a test set and write `results/NAME/index.html`
/// with each input, output and (where the data has one) target, like the reference `test.py`.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run a model over a test set and write an HTML page of inputs, outputs and targets.",
        discussion: """
        Which images are inputs (--mode auto): DATAROOT/<phase>A (or <phase>B with --direction BtoA) when it \
        exists, as the reference unaligned layout; else DATAROOT/<phase> of side-by-side A|B images (aligned; the \
        other half is shown as the target); else the images in DATAROOT itself. A colorization model (1 → 2 \
        channels) takes the images in DATAROOT/<phase> or DATAROOT and shows the gray input, the colorized output \
        and the original. A CycleGAN's latest_net_G_B (B → A) takes the B images unless --direction says otherwise. \
        A latent-diffusion model takes whole photos: super-resolution shows the PIL-bicubic ÷f input, bicubic ×f, its \
        output and the truth; colorization the gray input, its output and the original. Images run at their own size \
        unless --size. Writes RESULTS/NAME/images/ and RESULTS/NAME/index.html; NAME defaults to the checkpoint's \
        folder (plus _G_A/_G_B), or the registry name.

        Examples:
          stylize test --model checkpoints/h2z/latest_net_G_A.safetensors --dataroot datasets/horse2zebra
          stylize test --model photo2monet --dataroot ../shared/data/monet2photo-mini --num-test 10
          stylize test --model upscale_x4 --dataroot photos/ --steps 25
        """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable { case auto, unaligned, aligned, single }

    @Option(help: "A registry name (see `stylize models list`) or a .pth/.safetensors file.") var model: String
    @Option(help: "The dataset folder.") var dataroot: String
    @Option(help: "The run's name (default: the checkpoint's folder, or the registry name).") var name: String?
    @Option(help: "Where pages go.") var resultsDir = "results"
    @Option(help: "Which split: DATAROOT/<phase>A, DATAROOT/<phase>.") var phase = "test"
    @Option(help: "Which side is the input (default: AtoB; BtoA for a CycleGAN's G_B).") var direction: Direction?
    @Option(help: "DDIM steps (latent-diffusion models).") var steps = 25
    @Option(help: "Seed of the sampling noise (latent-diffusion models).") var seed: UInt64 = 0
    @Option(help: "Layout: auto, unaligned (<phase>A), aligned (<phase>/ of A|B images) or single (a plain folder).") var mode: Mode = .auto
    @Option(help: "At most this many images (sorted by name).") var numTest = 50
    @Option(help: "Resize so the short side is N pixels first.") var size: Int?
    @Option(help: "Generator architecture, when a checkpoint's cannot be detected.") var arch: GeneratorName?
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        guard (1...1000).contains(steps) else { throw ValidationError("--steps must be between 1 and 1000") }
        guard numTest > 0 else { throw ValidationError("--num-test must be positive") }
        if let size, size < 8 { throw ValidationError("--size must be at least 8") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// One test image: where it comes from and, for aligned data, which half is the input.
    struct Item {
        let url: URL
        let name: String
        /// For side-by-side A|B images: true when the input is the left half.
        let alignedInputIsLeft: Bool?
    }

    func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        let log: (String) -> Void = { message in if !quiet { FileHandle.standardError.write(Data((message + "\n").utf8)) } }
        let source = try ModelResolution.resolve(model, log: log)
        let processor: Processor
        var chosenDirection = direction ?? .aToB
        var notes: [String] = []
        if source.kind == .restoration {
            let loaded = try RestorationModel.load(contentsOf: source.url)
            processor = .restoration(RestorationPipeline(model: loaded))
            notes.append("model \(source.displayName) (two-stage \(loaded.task.rawValue)\(loaded.flow == nil ? ", stage 1 only" : ""), seed \(seed))")
        } else if source.kind == .latentDiffusion {
            let loaded = try LatentDiffusionModel.load(contentsOf: source.url)
            processor = .latentDiffusion(loaded)
            notes.append("model \(source.displayName) (latent diffusion, \(loaded.task.rawValue), \(steps) DDIM steps, seed \(seed))")
        } else {
            let generator = try ModelResolution.generator(source, architecture: arch?.name)
            let translator = TranslationPipeline(generator: generator, shortSide: size, maximumPixels: 16_777_216,
                                             tiling: TiledInference(tile: 768, margin: 96))
            processor = .generator(translator)
            // A CycleGAN's G_B translates B → A: unless told otherwise, it takes the B images.
            if direction == nil, Self.inputDomain(of: source.url) == "B" { chosenDirection = .bToA }
            notes.append("model \(source.displayName) (\(generator.architecture.name), ngf \(generator.architecture.filters)), "
                         + "\(chosenDirection == .aToB ? "A → B" : "B → A")")
        }
        let items = try testItems(colorizer: processor.takesWholePhotos, direction: chosenDirection)
        let runName = name ?? defaultName(source: source)
        let pageDirectory = URL(fileURLWithPath: resultsDir).appendingPathComponent(runName)
        let imagesDirectory = pageDirectory.appendingPathComponent("images")
        try Folder.checkWritable(imagesDirectory)
        let progress = BatchProgress(total: items.count, quiet: quiet)
        var rows: [HTMLGallery.Row] = []
        var failures: [String] = []
        for (index, item) in items.enumerated() {
            progress.begin(index: index, name: item.name)
            do {
                let whole = try Image.read(contentsOf: item.url).rgb().converted(toBitDepth: 8)
                var input = whole, target: Image?
                if let left = item.alignedInputIsLeft {
                    guard whole.width >= 2 else { throw CommandFailure("\(item.url.path): too narrow to split into A|B halves") }
                    let half = whole.width / 2
                    let leftHalf = whole.cropped(x: 0, y: 0, width: half, height: whole.height)
                    let rightHalf = whole.cropped(x: half, y: 0, width: half, height: whole.height)
                    (input, target) = left ? (leftHalf, rightHalf) : (rightHalf, leftHalf)
                }
                let visuals = try processor.visuals(input: input, target: target, path: item.url.path, direction: chosenDirection,
                                                    steps: steps, seed: seed) {
                    progress.detail(done: $0, total: $1)
                }
                var images: [(label: String, path: String)] = []
                for visual in visuals {
                    let file = "\(item.name)_\(visual.label).png"
                    try visual.image.write(to: imagesDirectory.appendingPathComponent(file))
                    images.append((visual.label, "images/" + file))
                }
                rows.append(HTMLGallery.Row(heading: item.name, images: images))
            } catch {
                let message = "\(error)"
                failures.append(message.contains(item.url.path) ? message : "\(item.url.path): \(message)")
            }
            progress.finished(index: index)
        }
        progress.end()
        let page = pageDirectory.appendingPathComponent("index.html")
        try HTMLGallery.write(to: page, title: "\(runName): \(model)", notes: notes + ["data \(dataroot), \(rows.count) image(s)"], rows: rows)
        for failure in failures { FileHandle.standardError.write(Data("failed: \(failure)\n".utf8)) }
        print("wrote \(page.path) (\(rows.count) image(s), \(failures.count) failed)")
        if !failures.isEmpty { throw ExitCode(1) }
    }

    /// What makes the page's images from one test image.
    enum Processor {
        case generator(TranslationPipeline)
        case latentDiffusion(LatentDiffusionModel)
        case restoration(RestorationPipeline)

        /// Colorizers and latent-diffusion models take whole photos (the truth is the photo itself).
        var takesWholePhotos: Bool {
            switch self {
            case .generator(let translator): return translator.isColorizer
            case .latentDiffusion, .restoration: return true
            }
        }

        /// The labelled images of one row: input, output(s) and, where there is one, the target.
        func visuals(input: Image, target: Image?, path: String, direction: Direction, steps: Int, seed: UInt64,
                     progress: @escaping (Int, Int) -> Void) throws -> [(label: String, image: Image)] {
            switch self {
            case .generator(let translator):
                let output = try translator.translate(input, path: path, progress: progress)
                let (from, to) = direction == .aToB ? ("A", "B") : ("B", "A")
                if translator.isColorizer { return [("real_\(from)", input.grayscale()), ("fake_\(to)", output), ("real_\(to)", input)] }
                let shown = translator.generator.architecture.inputChannels == 1 ? input.grayscale() : input
                return [("real_\(from)", shown), ("fake_\(to)", output)] + (target.map { [("real_\(to)", $0)] } ?? [])
            case .restoration(let pipeline):
                if case .upscaler(let upscaler) = pipeline.model.estimator {
                    let factor = upscaler.configuration.factor
                    let (low, bicubic, truth) = try TestCommand.superResolutionInputs(input, factor: factor, path: path)
                    let estimate = pipeline.upscale(low, detail: 0, steps: 1, seed: seed)
                    var visuals: [(label: String, image: Image)] = [("low_resolution", low), ("bicubic", bicubic), ("estimate", estimate)]
                    if pipeline.hasFlow {
                        visuals.append(("upscaled", pipeline.upscale(low, detail: Upscale.defaultDetail, steps: 4, seed: seed, progress: progress)))
                    }
                    return visuals + [("truth", truth)]
                }
                let output = pipeline.colorize(input, detail: pipeline.hasFlow ? ColorizeCommand.defaultDetail : 0, steps: 4, seed: seed,
                                               temperature: ColorizeCommand.defaultTemperature, vibrance: ColorizeCommand.defaultVibrance,
                                               progress: progress)
                return [("gray", input.grayscale()), ("colorized", output), ("original", input)]
            case .latentDiffusion(let model):
                let factor = model.autoencoder.configuration.downsamplingFactor
                if model.task == .superResolution {
                    let (low, bicubic, truth) = try TestCommand.superResolutionInputs(input, factor: factor, path: path)
                    let output = model.upscale(low, steps: steps, seed: seed, progress: progress)
                    return [("low_resolution", low), ("bicubic", bicubic), ("upscaled", output), ("truth", truth)]
                }
                let output = model.colorize(input, steps: steps, seed: seed, progress: progress)
                return [("gray", input.grayscale()), ("colorized", output), ("original", input)]
            }
        }
    }

    /// The truth cropped to a multiple of f, its PIL-bicubic ÷f downscale (the input) and the bicubic ×f of that.
    static func superResolutionInputs(_ input: Image, factor: Int, path: String) throws -> (low: Image, bicubic: Image, truth: Image) {
        let width = input.width / factor * factor, height = input.height / factor * factor
        guard width >= factor, height >= factor else { throw CommandFailure("\(path): smaller than the ×\(factor) factor") }
        let truth = input.cropped(x: 0, y: 0, width: width, height: height)
        let low = truth.resized(width: width / factor, height: height / factor, filter: .bicubic)
        return (low, low.resized(width: width, height: height, filter: .bicubic), truth)
    }

    /// "B" for a CycleGAN G_B checkpoint (metadata `direction` BtoA, else the file name `…net_G_B`), else "A".
    static func inputDomain(of url: URL) -> String {
        if url.pathExtension.lowercased() == "safetensors", let metadata = try? Safetensors.metadata(contentsOf: url),
           let direction = metadata["direction"] { return direction == "BtoA" ? "B" : "A" }
        return url.deletingPathExtension().lastPathComponent.hasSuffix("net_G_B") ? "B" : "A"
    }

    /// The run name: the checkpoint's folder (with `_G_A`/`_G_B` or the epoch for files other than `latest_net_G`), else
    /// the registry name.
    func defaultName(source: ModelSource) -> String {
        if let entry = source.entry { return entry.name }
        let url = source.url
        let folder = url.deletingLastPathComponent().lastPathComponent
        let stem = url.deletingPathExtension().lastPathComponent
        let suffix = stem.replacingOccurrences(of: "latest_net_", with: "").replacingOccurrences(of: "_net_", with: "_")
        guard !folder.isEmpty, folder != ".", folder != "/" else { return stem }
        return ["G", "LDM", "SR", "colorize"].contains(suffix) ? folder : "\(folder)_\(suffix)"
    }

    /// The input images by ``Mode`` (see the discussion), at most `numTest`, sorted by path.
    func testItems(colorizer: Bool, direction: Direction) throws -> [Item] {
        let root = URL(fileURLWithPath: dataroot)
        let side = direction == .aToB ? "A" : "B"
        let unalignedFolder = root.appendingPathComponent(phase + side)
        let phaseFolder = root.appendingPathComponent(phase)
        func isFolder(_ url: URL) -> Bool {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        guard isFolder(root) else { throw CommandFailure("\(root.path): no such folder") }
        var resolved = mode
        if resolved == .auto {
            if colorizer { resolved = .single } else if isFolder(unalignedFolder) { resolved = .unaligned }
            else if isFolder(phaseFolder) { resolved = .aligned } else { resolved = .single }
        }
        let folder: URL, inputIsLeft: Bool?
        switch resolved {
        case .unaligned: (folder, inputIsLeft) = (unalignedFolder, nil)
        case .aligned: (folder, inputIsLeft) = (phaseFolder, side == "A")
        case .single, .auto: (folder, inputIsLeft) = (isFolder(phaseFolder) ? phaseFolder : root, nil)
        }
        let files = try ImageFolder.list(folder, recursive: false).prefix(numTest)
        var used = Set<String>()
        return files.map { url in
            // Names are unique per page: photo.jpg and photo.png become photo and photo_2.
            var name = url.deletingPathExtension().lastPathComponent, suffix = 2
            while used.contains(name) { name = url.deletingPathExtension().lastPathComponent + "_\(suffix)"; suffix += 1 }
            used.insert(name)
            return Item(url: url, name: name, alignedInputIsLeft: inputIsLeft)
        }
    }
}
