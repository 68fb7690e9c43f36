import Foundation
import NN
import Tensor

/// Why a checkpoint could not be turned into a generator.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case unknownArchitecture(String)
    case undetectable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unknownArchitecture(let name):
            return "unknown architecture '\(name)' (use \(GeneratorFamily.knownNames.joined(separator: ", ")))"
        case .undetectable(let path, let reason): return "\(path): cannot tell the generator architecture: \(reason)"
        }
    }
}

/// A family of generators, such as the ResNet generators `resnet_<N>blocks` or the U-Nets `unet_<side>`: how its
/// names map to a size, the side multiple inputs need, how to build one, how to recognise its checkpoints and whether
/// it runs in tiles.
///
/// Each family is declared next to its network (`CycleGAN/ResnetGenerator.swift` declares ``resnet``) and registered
/// by one line in ``all``; option help, error messages, checkpoint detection and tiling read them from there.
public struct GeneratorFamily: Sendable, Hashable, CustomStringConvertible {
    /// The family's name (`resnet`).
    public let name: String
    /// The names users usually give (`resnet_9blocks`, `resnet_6blocks`), for help texts.
    public let commonNames: [String]
    /// The normalisation the reference uses with this family.
    public let defaultNormalization: NormalizationKind
    /// Whether large images can run in tiles with shared instance-norm statistics (a bounded receptive field).
    public let isTileable: Bool
    /// The size a name gives (`resnet_9blocks` → 9), nil for names of other families.
    let size: @Sendable (String) -> Int?
    /// The name of a size (9 → `resnet_9blocks`).
    let nameOfSize: @Sendable (Int) -> String
    /// The side multiple inputs need at a size.
    let sideMultipleOfSize: @Sendable (Int) -> Int
    /// A freshly initialised network.
    let build: @Sendable (GeneratorArchitecture, RandomGenerator) -> Module
    /// The architecture of a state dictionary of this family (keys without `module.`), nil when it is another's.
    let detect: @Sendable (_ shapes: [String: [Int]], _ path: String) throws -> GeneratorArchitecture?

    public init(name: String, commonNames: [String], defaultNormalization: NormalizationKind, isTileable: Bool,
                size: @escaping @Sendable (String) -> Int?, nameOfSize: @escaping @Sendable (Int) -> String,
                sideMultipleOfSize: @escaping @Sendable (Int) -> Int,
                build: @escaping @Sendable (GeneratorArchitecture, RandomGenerator) -> Module,
                detect: @escaping @Sendable (_ shapes: [String: [Int]], _ path: String) throws -> GeneratorArchitecture?) {
        self.name = name
        self.commonNames = commonNames
        self.defaultNormalization = defaultNormalization
        self.isTileable = isTileable
        self.size = size
        self.nameOfSize = nameOfSize
        self.sideMultipleOfSize = sideMultipleOfSize
        self.build = build
        self.detect = detect
    }

    /// Every family stylize knows: one line each.
    public static let all: [GeneratorFamily] = [.antialiasedResnet, .resnet, .unet]

    /// The common names of every family, for help and errors.
    public static var knownNames: [String] { all.flatMap(\.commonNames) }

    public var description: String { name }
    public static func == (a: GeneratorFamily, b: GeneratorFamily) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}

/// A reference generator configuration (`--net-g`, `--ngf`, `--norm`, `--no-dropout`, channels).
public struct GeneratorArchitecture: Equatable, Sendable {
    public var kind: GeneratorFamily
    /// The family's size: residual blocks for `resnet`, downsamplings for `unet` (what its name encodes).
    public var depth: Int
    public var filters: Int
    public var inputChannels: Int
    public var outputChannels: Int
    public var normalization: NormalizationKind
    public var dropout: Bool

    public init(kind: GeneratorFamily, depth: Int, filters: Int = 64, inputChannels: Int = 3, outputChannels: Int = 3,
                normalization: NormalizationKind, dropout: Bool = false) {
        self.kind = kind
        self.depth = depth
        self.filters = filters
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.normalization = normalization
        self.dropout = dropout
    }

    /// From a name any registered family answers to (`resnet_9blocks`, `unet_256`, also other sizes such as
    /// `resnet_4blocks`); the normalisation defaults to the family's.
    ///
    /// - Throws: ``ModelError/unknownArchitecture(_:)`` naming the known names.
    public init(name: String, filters: Int = 64, inputChannels: Int = 3, outputChannels: Int = 3,
                normalization: NormalizationKind? = nil, dropout: Bool = false) throws {
        for family in GeneratorFamily.all {
            if let size = family.size(name) {
                self.init(kind: family, depth: size, filters: filters, inputChannels: inputChannels, outputChannels: outputChannels,
                          normalization: normalization ?? family.defaultNormalization, dropout: dropout)
                return
            }
        }
        throw ModelError.unknownArchitecture(name)
    }

    /// The reference name (`resnet_9blocks`, `unet_256`).
    public var name: String { kind.nameOfSize(depth) }

    /// Image sides must be multiples of this.
    public var sideMultiple: Int { kind.sideMultipleOfSize(depth) }

    /// Whether large images can run in tiles with shared instance-norm statistics (the family's property).
    public var isTileable: Bool { kind.isTileable }

    /// A 1 → 2 channel generator is a Lab colorizer: it sees the lightness and predicts the chroma.
    public var isColorizer: Bool { inputChannels == 1 && outputChannels == 2 }

    /// A freshly initialised generator of this architecture.
    public func makeGenerator(generator: RandomGenerator = .shared) -> Module { kind.build(self, generator) }

    /// Safetensors metadata describing the architecture.
    public var metadata: [String: String] {
        ["architecture": name, "ngf": String(filters), "input_nc": String(inputChannels), "output_nc": String(outputChannels),
         "norm": normalization.rawValue, "dropout": dropout ? "true" : "false"]
    }

    /// Reads ``metadata``; nil when the metadata does not name an architecture.
    public init?(metadata: [String: String]) throws {
        guard let name = metadata["architecture"] else { return nil }
        try self.init(name: name, filters: Int(metadata["ngf"] ?? "") ?? 64,
                      inputChannels: Int(metadata["input_nc"] ?? "") ?? 3, outputChannels: Int(metadata["output_nc"] ?? "") ?? 3,
                      normalization: metadata["norm"].flatMap(NormalizationKind.init(rawValue:)),
                      dropout: metadata["dropout"] == "true")
    }

    /// Infers the architecture from state-dict keys and shapes (an optional `module.` prefix is ignored), asking each
    /// registered family.
    public static func detect(from entries: [(name: String, tensor: Tensor)], path: String = "checkpoint") throws -> GeneratorArchitecture {
        var shapes: [String: [Int]] = [:]
        for (name, tensor) in entries {
            shapes[name.hasPrefix("module.") ? String(name.dropFirst(7)) : name] = tensor.shape
        }
        for family in GeneratorFamily.all {
            if var found = try family.detect(shapes, path) {
                found.kind = family   // a family may reuse another's detection (CUT's generator is CycleGAN's plus filters)
                return found
            }
        }
        throw ModelError.undetectable(path: path, reason: "no known generator family (\(GeneratorFamily.all.map(\.name).joined(separator: ", "))) has these keys")
    }
}

/// A generator ready for inference and what it is.
public struct LoadedGenerator {
    public let module: Module
    public let architecture: GeneratorArchitecture
}

extension LoadedGenerator {
    /// Loads `.pth` (either torch.save format) or `.safetensors` weights. The architecture comes from
    /// `architecture`, else the safetensors metadata, else detection from the keys. The module is in eval mode.
    public static func load(contentsOf url: URL, architecture: GeneratorArchitecture? = nil) throws -> LoadedGenerator {
        let entries: [(name: String, tensor: Tensor)]
        var described: GeneratorArchitecture? = architecture
        if url.pathExtension.lowercased() == "safetensors" {
            let archive = try Safetensors.read(contentsOf: url)
            entries = archive.tensors
            if described == nil { described = try GeneratorArchitecture(metadata: archive.metadata) }
        } else {
            entries = try TorchCheckpoint.read(contentsOf: url)
        }
        let resolved = try described ?? GeneratorArchitecture.detect(from: entries, path: url.path)
        let module = resolved.makeGenerator(generator: RandomGenerator(seed: 0))
        do {
            try module.load(torchStateDictionary: entries)
        } catch let error as ModuleError {
            throw ModelError.undetectable(path: url.path, reason: "the weights do not fit \(resolved.name): \(error)")
        }
        module.eval()
        return LoadedGenerator(module: module, architecture: resolved)
    }
}
