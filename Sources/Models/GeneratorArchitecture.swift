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
            return "unknown architecture '\(name)' (use resnet_6blocks, resnet_9blocks, unet_128 or unet_256)"
        case .undetectable(let path, let reason): return "\(path): cannot tell the generator architecture: \(reason)"
        }
    }
}

/// A reference generator configuration (`--netG`, `--ngf`, `--norm`, `--no_dropout`, channels).
public struct GeneratorArchitecture: Equatable, Sendable {
    public enum Kind: String, Sendable { case resnet, unet }

    public var kind: Kind
    /// Residual blocks (resnet) or downsamplings (unet).
    public var depth: Int
    public var filters: Int
    public var inputChannels: Int
    public var outputChannels: Int
    public var normalization: NormalizationKind
    public var dropout: Bool

    public init(kind: Kind, depth: Int, filters: Int = 64, inputChannels: Int = 3, outputChannels: Int = 3,
                normalization: NormalizationKind, dropout: Bool = false) {
        self.kind = kind
        self.depth = depth
        self.filters = filters
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.normalization = normalization
        self.dropout = dropout
    }

    /// From a reference name: `resnet_9blocks`, `resnet_6blocks`, `unet_128`, `unet_256` (and other depths in the same
    /// pattern: `resnet_<N>blocks`, `unet_<2^k>`).
    public init(name: String, filters: Int = 64, inputChannels: Int = 3, outputChannels: Int = 3,
                normalization: NormalizationKind? = nil, dropout: Bool = false) throws {
        if name.hasPrefix("resnet_"), name.hasSuffix("blocks"), let blocks = Int(name.dropFirst(7).dropLast(6)), blocks >= 1 {
            self.init(kind: .resnet, depth: blocks, normalization: normalization ?? .instance)
        } else if name.hasPrefix("unet_"), let side = Int(name.dropFirst(5)), side >= 32, side & (side - 1) == 0 {
            self.init(kind: .unet, depth: side.trailingZeroBitCount, normalization: normalization ?? .batch)
        } else {
            throw ModelError.unknownArchitecture(name)
        }
        self.filters = filters
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.dropout = dropout
    }

    /// The reference name (`resnet_9blocks`, `unet_256`, or e.g. `resnet_4blocks` for other depths).
    public var name: String { kind == .resnet ? "resnet_\(depth)blocks" : "unet_\(1 << depth)" }

    /// Image sides must be multiples of this.
    public var sideMultiple: Int { kind == .resnet ? 4 : 1 << depth }

    /// Whether large images can run in tiles with shared instance-norm statistics (a fully convolutional generator
    /// with a bounded receptive field; a U-Net's innermost layer sees the whole image).
    public var isTileable: Bool { kind == .resnet }

    /// A 1 → 2 channel generator is a Lab colorizer: it sees the lightness and predicts the chroma.
    public var isColorizer: Bool { inputChannels == 1 && outputChannels == 2 }

    /// A freshly initialised generator of this architecture.
    public func makeGenerator(generator: RandomGenerator = .shared) -> Module {
        switch kind {
        case .resnet:
            return ResnetGenerator(inputChannels: inputChannels, outputChannels: outputChannels, filters: filters, blocks: depth,
                                   normalization: normalization, dropout: dropout, generator: generator)
        case .unet:
            return UnetGenerator(inputChannels: inputChannels, outputChannels: outputChannels, downsamplings: depth,
                                 filters: filters, normalization: normalization, dropout: dropout, generator: generator)
        }
    }

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

    /// Infers the architecture from state-dict keys and shapes (an optional `module.` prefix is ignored).
    ///
    /// resnet: `model.1.weight` is the 7×7 stem `[ngf, in, 7, 7]`; blocks are the distinct `model.N.conv_block`
    /// indices; `conv_block.6` means dropout; an affine `model.2.weight` means batch norm. unet: `model.model.0.weight`
    /// is `[ngf, in, 4, 4]`; each nested `….model.1.weight` 4×4 conv is one more downsampling.
    public static func detect(from entries: [(name: String, tensor: Tensor)], path: String = "checkpoint") throws -> GeneratorArchitecture {
        var shapes: [String: [Int]] = [:]
        for (name, tensor) in entries {
            shapes[name.hasPrefix("module.") ? String(name.dropFirst(7)) : name] = tensor.shape
        }
        if let stem = shapes["model.1.weight"], stem.count == 4, stem[2] == 7 {
            let blocks = Set(shapes.keys.compactMap { key -> Int? in
                let parts = key.split(separator: ".")
                return parts.count > 2 && parts[2] == "conv_block" ? Int(parts[1]) : nil
            })
            guard !blocks.isEmpty else { throw ModelError.undetectable(path: path, reason: "a 7×7 stem but no residual blocks") }
            let lastConvolution = shapes.filter { $0.key.hasSuffix(".weight") && $0.value.count == 4 && $0.value[2] == 7 }
                .max { Int($0.key.split(separator: ".")[1]) ?? 0 < Int($1.key.split(separator: ".")[1]) ?? 0 }
            return GeneratorArchitecture(
                kind: .resnet, depth: blocks.count, filters: stem[0], inputChannels: stem[1],
                outputChannels: lastConvolution?.value[0] ?? 3,
                normalization: shapes["model.2.weight"] != nil ? .batch : .instance,
                dropout: shapes.keys.contains { $0.hasSuffix("conv_block.6.weight") })
        }
        if let stem = shapes["model.model.0.weight"], stem.count == 4, stem[2] == 4 {
            let nested = shapes.filter { $0.key.hasSuffix(".model.1.weight") && $0.value.count == 4 && $0.value[2] == 4 }.count
            let upsampling = shapes["model.model.3.weight"]
            return GeneratorArchitecture(
                kind: .unet, depth: nested + 1, filters: stem[0], inputChannels: stem[1],
                outputChannels: upsampling?[1] ?? 3,
                normalization: shapes["model.model.1.model.2.weight"] != nil ? .batch
                    : (shapes["model.model.1.model.1.bias"] != nil ? .instance : .none),
                dropout: false)
        }
        throw ModelError.undetectable(path: path, reason: "neither a resnet (model.1.weight 7×7) nor a unet (model.model.0.weight 4×4) generator")
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
