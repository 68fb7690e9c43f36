import Foundation
import ImageIO
import Tensor

/// One training example: `a` (input) and optionally `b` (target), each `[1, C, H, W]` in [−1, 1].
public struct Sample {
    public var a: Tensor
    public var b: Tensor?
    public var pathA: String
    public var pathB: String?
}

/// Which way a pair is read (the reference's `--direction`).
public enum Direction: String, Sendable, CaseIterable {
    case aToB = "AtoB"
    case bToA = "BtoA"
}

/// A dataset that the loader can index. `sample(at:generator:)` must draw every random choice from
/// `generator`, so results depend only on the seed, not on which thread decodes.
public protocol Dataset: Sendable {
    var count: Int { get }
    func sample(at index: Int, generator: RandomGenerator) throws -> Sample
}

/// Loads an image and converts it to the requested channel count (1: PIL luma, 3: RGB).
func load(_ url: URL, channels: Int) throws -> Image {
    let image: Image
    do { image = try Image.read(contentsOf: url) } catch let error as ImageError { throw DatasetError.unreadableImage(error) }
    return (channels == 1 ? image.grayscale() : image.rgb()).converted(toBitDepth: 8)
}

/// `unaligned` mode (CycleGAN): `<root>/<phase>A` and `<root>/<phase>B`; length max(|A|, |B|); the B image is
/// drawn at random (or `index % |B|` with `serialBatches`); A and B get independent crops and flips.
public struct UnalignedDataset: Dataset {
    public let pathsA: [URL]
    public let pathsB: [URL]
    public let preprocessing: Preprocessing
    public let channelsA: Int
    public let channelsB: Int
    public let serialBatches: Bool

    public init(root: URL, phase: String = "train", direction: Direction = .aToB, preprocessing: Preprocessing = Preprocessing(),
                inputChannels: Int = 3, outputChannels: Int = 3, serialBatches: Bool = false) throws {
        let a = try ImageFolder.list(root.appendingPathComponent(phase + "A"))
        let b = try ImageFolder.list(root.appendingPathComponent(phase + "B"))
        (pathsA, pathsB) = direction == .aToB ? (a, b) : (b, a)
        try preprocessing.validate()
        self.preprocessing = preprocessing
        channelsA = inputChannels
        channelsB = outputChannels
        self.serialBatches = serialBatches
    }

    public var count: Int { Swift.max(pathsA.count, pathsB.count) }

    public func sample(at index: Int, generator: RandomGenerator) throws -> Sample {
        let pathA = pathsA[index % pathsA.count]
        let pathB = pathsB[serialBatches ? index % pathsB.count : generator.nextInt(below: pathsB.count)]
        let a = preprocessing.apply(try load(pathA, channels: channelsA), generator: generator)
        let b = preprocessing.apply(try load(pathB, channels: channelsB), generator: generator)
        return Sample(a: a.tensor(), b: b.tensor(), pathA: pathA.path, pathB: pathB.path)
    }
}

/// `aligned` mode (pix2pix): `<root>/<phase>/` holds A|B side by side; split at w/2; the same crop and flip
/// for both halves.
public struct AlignedDataset: Dataset {
    public let paths: [URL]
    public let preprocessing: Preprocessing
    public let direction: Direction
    public let channelsA: Int
    public let channelsB: Int

    public init(root: URL, phase: String = "train", direction: Direction = .aToB, preprocessing: Preprocessing = Preprocessing(),
                inputChannels: Int = 3, outputChannels: Int = 3) throws {
        paths = try ImageFolder.list(root.appendingPathComponent(phase))
        try preprocessing.validate()
        self.preprocessing = preprocessing
        self.direction = direction
        channelsA = inputChannels
        channelsB = outputChannels
    }

    public var count: Int { paths.count }

    public func sample(at index: Int, generator: RandomGenerator) throws -> Sample {
        let path = paths[index]
        let image: Image
        do { image = try Image.read(contentsOf: path) } catch let error as ImageError { throw DatasetError.unreadableImage(error) }
        let half = image.width / 2
        guard half > 0 else { throw DatasetError.unreadableImage(.unsupported(path: path.path, reason: "too narrow to split into A|B")) }
        var left = image.cropped(x: 0, y: 0, width: half, height: image.height)
        var right = image.cropped(x: half, y: 0, width: half, height: image.height)
        if direction == .bToA { swap(&left, &right) }
        let parameters = preprocessing.parameters(width: left.width, height: left.height, generator: generator)
        let a = preprocessing.apply(convert(left, channels: channelsA), parameters)
        let b = preprocessing.apply(convert(right, channels: channelsB), parameters)
        return Sample(a: a.tensor(), b: b.tensor(), pathA: path.path, pathB: path.path)
    }

    func convert(_ image: Image, channels: Int) -> Image {
        (channels == 1 ? image.grayscale() : image.rgb()).converted(toBitDepth: 8)
    }
}

/// Paired folders `<root>/A` and `<root>/B` (or `<phase>A`/`<phase>B` when those exist) matched by file
/// name without extension; the same crop and flip for both images of a pair. Every A image needs a partner;
/// B images without one are ignored (a reference folder may cover more than this split).
public struct PairedFolderDataset: Dataset {
    public let pairs: [(URL, URL)]
    public let preprocessing: Preprocessing
    public let channelsA: Int
    public let channelsB: Int

    public init(root: URL, phase: String = "train", direction: Direction = .aToB, preprocessing: Preprocessing = Preprocessing(),
                inputChannels: Int = 3, outputChannels: Int = 3) throws {
        let phased = root.appendingPathComponent(phase + "A")
        let folderA = FileManager.default.fileExists(atPath: phased.path) ? phased : root.appendingPathComponent("A")
        let folderB = FileManager.default.fileExists(atPath: phased.path) ? root.appendingPathComponent(phase + "B")
            : root.appendingPathComponent("B")
        try self.init(folderA: folderA, folderB: folderB, direction: direction, preprocessing: preprocessing,
                      inputChannels: inputChannels, outputChannels: outputChannels)
    }

    /// Pairs two explicit folders (for example photos and a reference model's outputs for them).
    public init(folderA: URL, folderB: URL, direction: Direction = .aToB, preprocessing: Preprocessing = Preprocessing(),
                inputChannels: Int = 3, outputChannels: Int = 3) throws {
        let root = folderA.deletingLastPathComponent()
        let a = try ImageFolder.keyedByName(folderA), b = try ImageFolder.keyedByName(folderB)
        let unpaired = Set(a.keys).subtracting(b.keys).sorted()
        guard unpaired.isEmpty else { throw DatasetError.unpairedFiles(folder: root.path, names: unpaired) }
        let ordered = a.keys.sorted().map { (a[$0]!, b[$0]!) }
        pairs = direction == .aToB ? ordered : ordered.map { ($0.1, $0.0) }
        try preprocessing.validate()
        self.preprocessing = preprocessing
        channelsA = inputChannels
        channelsB = outputChannels
    }

    public var count: Int { pairs.count }

    public func sample(at index: Int, generator: RandomGenerator) throws -> Sample {
        let (pathA, pathB) = pairs[index]
        let imageA = try load(pathA, channels: channelsA), imageB = try load(pathB, channels: channelsB)
        let parameters = preprocessing.parameters(width: imageA.width, height: imageA.height, generator: generator)
        let a = preprocessing.apply(imageA, parameters)
        var b = preprocessing.apply(imageB, parameters)
        if b.width != a.width || b.height != a.height { b = b.resized(width: a.width, height: a.height, filter: .bicubic) }
        return Sample(a: a.tensor(), b: b.tensor(), pathA: pathA.path, pathB: pathB.path)
    }
}

/// `single` mode: one folder of images, A only (testing a generator).
public struct SingleDataset: Dataset {
    public let paths: [URL]
    public let preprocessing: Preprocessing
    public let channels: Int

    public init(folder: URL, preprocessing: Preprocessing = Preprocessing(mode: .none, flip: false), channels: Int = 3) throws {
        paths = try ImageFolder.list(folder)
        try preprocessing.validate()
        self.preprocessing = preprocessing
        self.channels = channels
    }

    public var count: Int { paths.count }

    public func sample(at index: Int, generator: RandomGenerator) throws -> Sample {
        let image = preprocessing.apply(try load(paths[index], channels: channels), generator: generator)
        return Sample(a: image.tensor(), b: nil, pathA: paths[index].path, pathB: nil)
    }
}

/// `colorization` mode: RGB images → Lab; A is L/50 − 1 (`[1, 1, H, W]` in [−1, 1]), B is ab/110
/// (`[1, 2, H, W]`), as the reference's ColorizationDataset (skimage's rgb2lab).
public struct ColorizationDataset: Dataset {
    public let paths: [URL]
    public let preprocessing: Preprocessing

    public init(root: URL, phase: String = "train", preprocessing: Preprocessing = Preprocessing()) throws {
        paths = try ImageFolder.list(root.appendingPathComponent(phase))
        try preprocessing.validate()
        self.preprocessing = preprocessing
    }

    public var count: Int { paths.count }

    public func sample(at index: Int, generator: RandomGenerator) throws -> Sample {
        let image = preprocessing.apply(try load(paths[index], channels: 3), generator: generator)
        let (lightness, chroma) = LabEncoding.split(image)
        return Sample(a: lightness, b: chroma, pathA: paths[index].path, pathB: paths[index].path)
    }
}
