import Foundation
import NN
import Tensor

/// Why a restoration model file cannot be used.
public enum RestorationError: Error, CustomStringConvertible {
    case notARestorationModel(path: String, kind: String?)
    case badMetadata(path: String, key: String)

    public var description: String {
        switch self {
        case .notARestorationModel(let path, let kind):
            return "\(path): not a restoration model (its metadata says kind \(kind ?? "nothing"), not restoration)"
        case .badMetadata(let path, let key): return "\(path): missing or malformed metadata '\(key)'"
        }
    }
}

/// The minimum-MSE estimator of a two-stage restoration model: a ``ResidualUpscaler`` for super-resolution or a
/// ``ChromaClassifier`` for colorization.
public enum RestorationEstimator {
    case upscaler(ResidualUpscaler)
    case chroma(ChromaClassifier)

    public var module: Module {
        switch self {
        case .upscaler(let network): return network
        case .chroma(let network): return network
        }
    }

    public var task: LatentDiffusionTask {
        switch self {
        case .upscaler: return .superResolution
        case .chroma: return .colorization
        }
    }
}

/// A two-stage restoration model (PMRF, Ohayon et al. 2024): stage 1 a fast minimum-MSE estimator in pixel space;
/// stage 2, optional, a rectified flow in a KL autoencoder's latent space from the estimate (plus a little noise) to
/// the image, for the detail a mean cannot have. Keys `estimator.*`, and with stage 2 `vae.*` and `flow.*`.
public final class RestorationModel: Module {
    public let estimator: RestorationEstimator
    public let flow: LatentFlow?

    public init(estimator: RestorationEstimator, flow: LatentFlow? = nil) {
        self.estimator = estimator
        self.flow = flow
        super.init()
        registerModule("estimator", estimator.module)
        if let flow {
            registerModule("vae", flow.autoencoder)
            registerModule("flow", flow.unet)
        }
    }

    public var task: LatentDiffusionTask { estimator.task }

    /// Metadata that makes the file self-describing (``load(contentsOf:)``).
    public var metadata: [String: String] {
        var metadata = ["kind": "restoration", "task": task.rawValue]
        switch estimator {
        case .upscaler(let network): metadata["upscaler"] = ModelMetadata.json(network.configuration)
        case .chroma(let network): metadata["chroma"] = ModelMetadata.json(network.configuration)
        }
        if let flow { metadata.merge(flow.metadata) { own, _ in own } }
        return metadata
    }

    /// Loads a model written with ``metadata`` (weights may be float16).
    public static func load(contentsOf url: URL) throws -> RestorationModel {
        let archive = try Safetensors.read(contentsOf: url)
        let metadata = archive.metadata
        guard metadata["kind"] == "restoration" else { throw RestorationError.notARestorationModel(path: url.path, kind: metadata["kind"]) }
        func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
            try ModelMetadata.decode(type, key, in: metadata) { RestorationError.badMetadata(path: url.path, key: $0) }
        }
        let estimator: RestorationEstimator
        if metadata["upscaler"] != nil {
            estimator = .upscaler(ResidualUpscaler(try decode(ResidualUpscalerConfiguration.self, "upscaler")))
        } else if metadata["chroma"] != nil {
            estimator = .chroma(ChromaClassifier(try decode(ChromaClassifierConfiguration.self, "chroma")))
        } else {
            throw RestorationError.badMetadata(path: url.path, key: "upscaler")
        }
        let flow = metadata["flow"] != nil ? try LatentFlow(metadata: metadata, path: url.path) : nil
        let model = RestorationModel(estimator: estimator, flow: flow)
        try model.load(stateDictionary: archive.dictionary)
        model.eval()
        return model
    }
}
