import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import Tensor
import Training

/// `stylize test --model M --dataroot D`: run a generator over a test set and write `results/NAME/index.html`
/// with each input, output and (where the data has one) target, like the reference `test.py`.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run a generator over a test set and write an HTML page of inputs, outputs and targets.",
        discussion: """
        Which images are inputs (--mode auto): DATAROOT/<phase>A (or <phase>B with --direction BtoA) when it \
        exists, as the reference unaligned layout; else DATAROOT/<phase> of side-by-side A|B images (aligned; the \
        other half is shown as the target); else the images in DATAROOT itself. A colorization model (1 → 2 \
        channels) takes the images in DATAROOT/<phase> or DATAROOT and shows the gray input, the colorized output \
        and the original. Images run at their own size unless --size. Writes RESULTS/NAME/images/<name>_real_A.png, \
        _fake_B.png (and _real_B.png) and RESULTS/NAME/index.html; NAME defaults to the checkpoint's folder or the \
        registry name.

        Examples:
          stylize test --model checkpoints/h2z/latest_net_G_A.safetensors --dataroot datasets/horse2zebra
          stylize test --model photo2monet --dataroot ../shared/data/monet2photo-mini --num-test 10
        """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable { case auto, unaligned, aligned, single }

    @Option(help: "A registry name (see `stylize models list`) or a .pth/.safetensors file.") var model: String
    @Option(help: "The dataset folder.") var dataroot: String
    @Option(help: "The run's name (default: the checkpoint's folder, or the registry name).") var name: String?
    @Option(help: "Where pages go.") var resultsDir = "results"
    @Option(help: "Which split: DATAROOT/<phase>A, DATAROOT/<phase>.") var phase = "test"
    @Option(help: "AtoB or BtoA: which side is the input.") var direction = "AtoB"
    @Option(help: "Layout: auto, unaligned (<phase>A), aligned (<phase>/ of A|B images) or single (a plain folder).") var mode: Mode = .auto
    @Option(help: "At most this many images (sorted by name).") var numTest = 50
    @Option(help: "Resize so the short side is N pixels first.") var size: Int?
    @Option(help: "Generator architecture, when a checkpoint's cannot be detected.") var arch: String?
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        guard Direction(rawValue: direction) != nil else { throw ValidationError("--direction must be AtoB or BtoA, not '\(direction)'") }
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
        let generator: LoadedGenerator
        let items: [Item]
        let translator: ImageTranslator
        do {
            generator = try ModelResolution.load(model, architecture: arch, log: log)
            translator = ImageTranslator(generator: generator, shortSide: size, maximumPixels: 16_777_216,
                                         tiling: TiledInference(tile: 768, margin: 96))
            items = try testItems(colorizer: translator.isColorizer)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
        let runName = name ?? defaultName()
        let pageDirectory = URL(fileURLWithPath: resultsDir).appendingPathComponent(runName)
        let imagesDirectory = pageDirectory.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: imagesDirectory, withIntermediateDirectories: true)
        let progress = ProgressReporter(total: items.count, quiet: quiet)
        var rows: [HTMLGallery.Row] = []
        var failures: [String] = []
        for item in items {
            do {
                var visuals: [(label: String, image: Image)] = []
                let whole = try Image.read(contentsOf: item.url).rgb().converted(toBitDepth: 8)
                var input = whole, target: Image?
                if let left = item.alignedInputIsLeft {
                    guard whole.width >= 2 else { throw ValidationFailure("\(item.url.path): too narrow to split into A|B halves") }
                    let half = whole.width / 2
                    let leftHalf = whole.cropped(x: 0, y: 0, width: half, height: whole.height)
                    let rightHalf = whole.cropped(x: half, y: 0, width: half, height: whole.height)
                    (input, target) = left ? (leftHalf, rightHalf) : (rightHalf, leftHalf)
                } else if translator.isColorizer {
                    target = whole
                }
                let output = try translator.translate(input, path: item.url.path)
                let shownInput = translator.isColorizer || generator.architecture.inputChannels == 1 ? input.grayscale() : input
                visuals.append(("real_A", shownInput))
                visuals.append(("fake_B", output))
                if let target { visuals.append(("real_B", target)) }
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
            progress.advance(item.name)
        }
        let page = pageDirectory.appendingPathComponent("index.html")
        try HTMLGallery.write(to: page, title: "\(runName): \(model)",
                              notes: ["model \(model) (\(generator.architecture.name), ngf \(generator.architecture.filters))",
                                      "data \(dataroot), \(rows.count) image(s)"],
                              rows: rows)
        for failure in failures { FileHandle.standardError.write(Data("failed: \(failure)\n".utf8)) }
        print("wrote \(page.path) (\(rows.count) image(s), \(failures.count) failed)")
        if !failures.isEmpty { throw ExitCode(1) }
    }

    /// The run name: the folder of a checkpoint file, else the model reference itself.
    func defaultName() -> String {
        let url = URL(fileURLWithPath: model)
        if ["pth", "safetensors"].contains(url.pathExtension.lowercased()) {
            let folder = url.deletingLastPathComponent().lastPathComponent
            return folder.isEmpty || folder == "." || folder == "/" ? url.deletingPathExtension().lastPathComponent : folder
        }
        return url.lastPathComponent
    }

    /// The input images by ``Mode`` (see the discussion), at most `numTest`, sorted by path.
    func testItems(colorizer: Bool) throws -> [Item] {
        let root = URL(fileURLWithPath: dataroot)
        let side = Direction(rawValue: direction)! == .aToB ? "A" : "B"
        let unalignedFolder = root.appendingPathComponent(phase + side)
        let phaseFolder = root.appendingPathComponent(phase)
        func isFolder(_ url: URL) -> Bool {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        guard isFolder(root) else { throw ValidationFailure("\(root.path): no such folder") }
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
