import ArgumentParser
import Foundation
import ImageIO
import ModelHub
import Models
import Pipelines
import Tensor
import Training

/// `stylize [apply] --model NAME|PATH INPUT... OUTPUT`: translate images with a generator.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate images with a generator (the default command).",
        discussion: """
        INPUT... are images and/or folders; OUTPUT is a folder. Each input gives one output with the same base \
        name, in the same format unless --format, at the same size: images are padded (reflection) to what the \
        generator needs and cropped back, not resized, unless --size. Large photos run in tiles (--tile-size) with \
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

    @Option(help: "A registry name (see `stylize models list`) or a .pth/.safetensors file.") var model: String?
    @OptionGroup var batch: BatchArguments
    @Option(help: "Resize so the short side is N pixels first (faster on large photos).") var size: Int?
    @Option(help: "Refuse images with more pixels than this (after --size), to bound memory.") var maxPixels = 16_777_216
    @Option(help: "Tile side for large images (tileable generators; each tile also carries 96 pixels of context per side).") var tileSize = 768
    @Option(name: .customLong("tile"), help: .hidden) var tileAlias: Int?
    @Option(help: "Generator architecture, when a checkpoint's cannot be detected.") var arch: GeneratorName?

    var tile: Int { tileAlias ?? tileSize }

    func validate() throws {
        guard model != nil else { throw ValidationError("give --model NAME or a weights file (`stylize models list` shows the names)") }
        if let size, size < 8 { throw ValidationError("--size must be at least 8") }
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive") }
        guard tile >= 64 && tile % 4 == 0 else { throw ValidationError("--tile-size must be a multiple of 4, at least 64") }
    }

    func run() throws {
        guard let model else { return }
        batch.applyThreads()
        let start = Date()
        let plan = try batch.plan()
        let (generator, source) = try ModelResolution.generator(model, architecture: arch?.name, log: batch.log)
        let translator = TranslationPipeline(generator: generator, shortSide: size, maximumPixels: maxPixels,
                                             tiling: TiledInference(tile: tile, margin: 96))
        let run = batch.batch(plan: plan, model: source.displayName, settings: size.map { "size \($0)" } ?? "own size", start: start)
        try run.execute(describe: "\(generator.architecture.name) (ngf \(generator.architecture.filters))") { image, path, progress in
            try translator.translate(image, path: path, progress: progress)
        }
    }
}
