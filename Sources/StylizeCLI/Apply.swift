import ArgumentParser
import Foundation
import ImageIO
import ModelHub
import Models
import Pipelines
import Tensor

/// `stylize [apply] --model NAME|PATH INPUT... OUTPUT`: translate images with a generator.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate images with a generator (the default command).",
        discussion: """
        INPUT... are images and/or folders; OUTPUT is a folder. Each input gives one output with the same base \
        name, in the same format unless --format, at the same size: images are padded (reflection) to what the \
        generator needs and cropped back, not resized, unless --size. Large photos run in tiles (--tile) with \
        instance-norm statistics shared across the image, so memory stays bounded and tiles do not show seams. \
        Existing outputs are skipped unless --overwrite, so an interrupted run resumes; OUTPUT/.stylize-outputs.jsonl \
        records which model made each file, and outputs of another model are reported. Outputs are written whole or \
        not at all; an output that is an input (through a link, too) is refused before any work, so originals are \
        never replaced. The exit code is 1 if any input failed (the others are still processed).

        Examples:
          stylize --model photo2monet photos/ out/        # bundled, offline
          stylize --model style_monet photos/ out/        # official weights, downloaded once
          stylize --model checkpoints/mine/latest_net_G.safetensors --recursive archive/ out/ --format jpg --quality 92
        """
    )

    @Option(help: "A registry name (see `stylize models list`) or a .pth/.safetensors file.")
    var model: String?

    @Argument(help: "Images and/or folders, then the output folder.")
    var paths: [String]

    @Flag(help: "Descend into subfolders of input folders and mirror them in OUTPUT.")
    var recursive = false

    @Option(help: "Output format: png or jpg (default: each input's).")
    var format: String?

    @Option(help: "JPEG quality, 1–100.")
    var quality = 95

    @Option(help: "Resize so the short side is N pixels first (faster on large photos).")
    var size: Int?

    @Option(help: "Refuse images with more pixels than this (after --size), to bound memory.")
    var maxPixels = 16_777_216

    @Option(help: "Tile side for large images (ResNet generators; each tile also carries 96 pixels of context per side).")
    var tile = 768

    @Option(help: "Generator architecture, when a checkpoint's cannot be detected: resnet_6blocks, resnet_9blocks, unet_128, unet_256.")
    var arch: String?

    @Flag(help: "Replace existing outputs.")
    var overwrite = false

    @Flag(help: "No progress output (the summary and errors are still printed).")
    var quiet = false

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard model != nil else { throw ValidationError("give --model NAME or a weights file (`stylize models list` shows the names)") }
        guard paths.count >= 2 else { throw ValidationError("give at least one INPUT and the OUTPUT folder") }
        if let format, ImageFormat(pathExtension: format) == nil { throw ValidationError("--format must be png or jpg, not '\(format)'") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be between 1 and 100") }
        if let size, size < 8 { throw ValidationError("--size must be at least 8") }
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard tile >= 64 && tile % 4 == 0 else { throw ValidationError("--tile must be a multiple of 4, at least 64") }
    }

    func run() throws {
        guard let model else { return }
        if let threads { Parallel.setThreadCount(threads) }
        let start = Date()
        let output = URL(fileURLWithPath: paths.last!)
        let log: (String) -> Void = { message in if !quiet { FileHandle.standardError.write(Data((message + "\n").utf8)) } }
        let plan = try TranslationPlan.make(inputs: Array(paths.dropLast()), output: output, recursive: recursive,
                                            format: format.flatMap(ImageFormat.init(pathExtension:)))
        let (generator, source) = try ModelResolution.generator(model, architecture: arch, log: log)
        let translator = TranslationPipeline(generator: generator, shortSide: size, maximumPixels: maxPixels,
                                         tiling: TiledInference(tile: tile, margin: 96))
        let run = BatchRun(inputs: Array(paths.dropLast()), output: output, plan: plan, overwrite: overwrite, quality: quality, quiet: quiet,
                           model: source.displayName, settings: size.map { "size \($0)" } ?? "own size", start: start)
        try run.execute(describe: "\(generator.architecture.name) (ngf \(generator.architecture.filters))") { image, path, progress in
            try translator.translate(image, path: path, progress: progress)
        }
    }
}
