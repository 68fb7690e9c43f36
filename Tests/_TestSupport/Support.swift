import Foundation
import NN
import Tensor
import XCTest

/// The repository's `Tests/Fixtures` folder.
public let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures")

/// The PyTorch parity fixtures written by `tools/make_parity_fixtures.py`, loaded once.
public enum ParityFixtures {
    private static let cache = Locked<(archive: SafetensorsArchive?, options: [String: Any])>((nil, [:]))
    private static var cachedOptions: [String: Any] { cache.value.options }

    public static func archive() throws -> SafetensorsArchive {
        try cache.withLock { cached in
            if let archive = cached.archive { return archive }
            let loaded = try Safetensors.read(contentsOf: fixturesDirectory.appendingPathComponent("parity.safetensors"))
            cached.archive = loaded
            if let text = loaded.metadata["options"], let data = text.data(using: .utf8),
               let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] {
                cached.options = object
            }
            return loaded
        }
    }

    /// `<case>.<name>` from the fixture file.
    public static func tensor(_ caseName: String, _ name: String) throws -> Tensor {
        try archive().tensor("\(caseName).\(name)", path: "parity.safetensors").copied()
    }

    /// Integer option of a case.
    public static func option(_ caseName: String, _ key: String) throws -> Int {
        _ = try archive()
        return ((cachedOptions[caseName] as? [String: Any])?[key] as? Int) ?? 0
    }

    /// Integer-list option of a case.
    public static func options(_ caseName: String, _ key: String) throws -> [Int] {
        _ = try archive()
        return ((cachedOptions[caseName] as? [String: Any])?[key] as? [Int]) ?? []
    }
}

/// Largest |actual − expected| over all elements.
public func maximumDifference(_ actual: Tensor, _ expected: Tensor) -> Float {
    precondition(actual.count == expected.count)
    var worst: Float = 0
    for index in 0..<actual.count { worst = max(worst, abs(actual.pointer[index] - expected.pointer[index])) }
    return worst
}

/// Asserts equal shapes and |actual − expected| ≤ absolute + relative·|expected| elementwise.
public func assertClose(
    _ actual: Tensor?, _ expected: Tensor, absolute: Float = 1e-5, relative: Float = 1e-4,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard let actual else { return XCTFail("missing tensor: \(message)", file: file, line: line) }
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message)", file: file, line: line)
    guard actual.count == expected.count else { return }
    for index in 0..<actual.count {
        let a = actual.pointer[index], e = expected.pointer[index]
        if !(abs(a - e) <= absolute + relative * abs(e)) {
            XCTFail("\(message): element \(index) is \(a), expected \(e) (max diff \(maximumDifference(actual, expected)))",
                    file: file, line: line)
            return
        }
    }
}

/// Central-difference gradient check of `function` at `inputs`.
///
/// The analytic gradient of Σ function(inputs)·w (w fixed random) from `backward` must match
/// (f(x + ε) − f(x − ε)) / 2ε per element within `absolute + relative·max(|analytic|, |numeric|)`.
public func checkGradients(
    _ inputs: [Tensor], epsilon: Float = 1e-2, absolute: Float = 2e-3, relative: Float = 1e-2,
    _ name: String, file: StaticString = #filePath, line: UInt = #line, _ function: ([Tensor]) -> Tensor
) {
    for input in inputs { input.requiresGrad = true; input.grad = nil }
    let output = function(inputs)
    let weights = Tensor.randomNormal(output.shape, generator: RandomGenerator(seed: 99))
    output.backward(weights)
    func weightedSum() -> Double {
        let value = withoutGradient { function(inputs) }
        var total = 0.0
        for index in 0..<value.count { total += Double(value.pointer[index]) * Double(weights.pointer[index]) }
        return total
    }
    for (inputIndex, input) in inputs.enumerated() {
        guard let analytic = input.grad else {
            XCTFail("\(name): input \(inputIndex) received no gradient", file: file, line: line)
            continue
        }
        for element in 0..<input.count {
            let original = input.pointer[element]
            input.pointer[element] = original + epsilon
            let plus = weightedSum()
            input.pointer[element] = original - epsilon
            let minus = weightedSum()
            input.pointer[element] = original
            let numeric = Float((plus - minus) / Double(2 * epsilon))
            let exact = analytic.pointer[element]
            if !(abs(numeric - exact) <= absolute + relative * max(abs(numeric), abs(exact))) {
                XCTFail("\(name): input \(inputIndex) element \(element): analytic \(exact), numeric \(numeric)",
                        file: file, line: line)
                return
            }
        }
    }
}

/// A reproducible N(0, scale²) tensor.
public func seededNormal(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    Tensor.randomNormal(shape, standardDeviation: scale, generator: RandomGenerator(seed: seed))
}

/// A fresh temporary directory, removed by the caller.
public func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("stylize-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Central-difference check of the gradient of a scalar `function` that itself differentiates (a gradient penalty
/// built with `gradients(withRespectTo:createGraph: true)`): `backward` through the recorded gradient graph must match
/// (h(x + ε) − h(x − ε)) / 2ε per element of every input, each evaluation recording its own graph.
public func checkSecondOrder(
    _ inputs: [Tensor], epsilon: Float = 1e-3, absolute: Float = 5e-3, relative: Float = 2e-2,
    _ name: String, file: StaticString = #filePath, line: UInt = #line, _ function: ([Tensor]) -> Tensor
) {
    for input in inputs { input.requiresGrad = true; input.grad = nil }
    function(inputs).backward()
    let analytic = inputs.map { $0.grad?.copied() ?? Tensor.zeros($0.shape) }
    for input in inputs { input.grad = nil }
    for (inputIndex, input) in inputs.enumerated() {
        for element in 0..<input.count {
            let original = input.pointer[element]
            input.pointer[element] = original + epsilon
            let plus = Double(function(inputs).item)
            input.pointer[element] = original - epsilon
            let minus = Double(function(inputs).item)
            input.pointer[element] = original
            let numeric = Float((plus - minus) / Double(2 * epsilon))
            let exact = analytic[inputIndex].pointer[element]
            if !(abs(numeric - exact) <= absolute + relative * max(abs(numeric), abs(exact))) {
                XCTFail("\(name): input \(inputIndex) element \(element): analytic \(exact), numeric \(numeric)", file: file, line: line)
                return
            }
        }
    }
}

/// ‖∇ₓ Σ f(x)·r‖² for fixed random weights r: a gradient penalty, differentiable in x and in f's parameters.
public func squaredGradientNorm(_ x: Tensor, _ function: (Tensor) -> Tensor) -> Tensor {
    let output = function(x)
    let weights = Tensor.randomNormal(output.shape, generator: RandomGenerator(seed: 98))
    let gradient = (output * weights).sum().gradients(withRespectTo: [x], createGraph: true)[0]
    return (gradient * gradient).sum()
}

/// The records of a run's `loss_log.jsonl` without their wall-clock `seconds` (what an exactly resumed run repeats).
public func lossRecords(in directory: URL) throws -> [[String: Double]] {
    try String(contentsOf: directory.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
        .split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return object.filter { $0.key != "seconds" }.mapValues { ($0 as! NSNumber).doubleValue }
        }
}
