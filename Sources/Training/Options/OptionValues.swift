import ArgumentParser
import Datasets
import ImageIO
import Models

// Every choice on the command line is one of these types: the parser checks the value and `--help` lists the allowed
// ones (swift-argument-parser's `ExpressibleByArgument` + `CaseIterable`).

extension PreprocessMode: ExpressibleByArgument {}
extension Direction: ExpressibleByArgument {}
extension NormalizationKind: ExpressibleByArgument {}
extension DiscriminatorArchitecture.Kind: ExpressibleByArgument {}
extension NoiseSchedule.Kind: ExpressibleByArgument {}
extension LearningRatePolicy: ExpressibleByArgument {}
extension GANMode: ExpressibleByArgument {}
extension LatentDiffusionTask: ExpressibleByArgument {}
extension AutoencoderStyle: ExpressibleByArgument {}

extension DiffusionPrediction: ExpressibleByArgument {
    /// `epsilon` or `v` (also diffusers' `v_prediction`).
    public init?(argument: String) {
        switch argument {
        case "epsilon": self = .epsilon
        case "v", "v_prediction": self = .velocity
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["epsilon", "v"] }
    public var defaultValueDescription: String { self == .velocity ? "v" : rawValue }
}

/// A generator architecture name: any registered family's (`resnet_9blocks`, `resnet_4blocks`, `unet_256`); `--help`
/// lists the common ones.
public struct GeneratorName: ExpressibleByArgument, Sendable, Equatable {
    public let name: String

    public init(_ name: String) { self.name = name }

    public init?(argument: String) {
        guard (try? GeneratorArchitecture(name: argument)) != nil else { return nil }
        name = argument
    }

    public static var allValueStrings: [String] { GeneratorFamily.knownNames }
    public var defaultValueDescription: String { name }
}

/// Comma-separated positive integers (`1,2,4`).
public struct IntegerList: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    public let values: [Int]

    public init(_ values: [Int]) { self.values = values }

    public init?(argument: String) {
        let parsed = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        values = parsed.map { $0! }
    }

    public var description: String { values.map(String.init).joined(separator: ",") }
    public var defaultValueDescription: String { description }
}

/// Comma-separated levels, or `none` (the UNet's attention levels).
public struct LevelList: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    public let values: [Int]

    public init(_ values: [Int]) { self.values = values }

    public init?(argument: String) {
        if argument == "none" { values = []; return }
        let parsed = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        values = parsed.map { $0! }
    }

    public var description: String { values.isEmpty ? "none" : values.map(String.init).joined(separator: ",") }
    public var defaultValueDescription: String { description }
}
