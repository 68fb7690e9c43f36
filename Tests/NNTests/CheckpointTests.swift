import _TestSupport
import NN
import Tensor
import XCTest

final class CheckpointTests: XCTestCase {
    func testRoundTripInEveryStorageType() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let values: [Float] = [0, 1, -2.5, 3.140625, 65504, 1e-3, -0.1]
        let tensor = Tensor(shape: [7], scalars: values)
        let other = Tensor.ramp([2, 3])
        for dataType in StorageDataType.allCases {
            let url = directory.appendingPathComponent("\(dataType.rawValue).safetensors")
            try Safetensors.write(SafetensorsArchive(tensors: [("a", tensor), ("b.c", other)], metadata: ["epoch": "3"]),
                                  to: url, dataType: dataType)
            let archive = try Safetensors.read(contentsOf: url)
            XCTAssertEqual(archive.metadata["epoch"], "3")
            XCTAssertEqual(archive.tensors.map(\.name), ["a", "b.c"])
            XCTAssertEqual(try archive.tensor("b.c").shape, [2, 3])
            XCTAssertEqual(try archive.tensor("b.c").scalars, other.scalars)
            let restored = try archive.tensor("a").scalars
            for (value, back) in zip(values, restored) {
                let tolerance: Float = dataType == .float32 ? 0 : (dataType == .float16 ? 1e-3 : 8e-3)
                XCTAssertEqual(back, value, accuracy: max(tolerance * abs(value), dataType == .float32 ? 0 : 1e-4),
                               "\(dataType) \(value)")
            }
        }
        // Round to nearest even for bfloat16: 1 + 2^-8 is halfway and rounds to 1; 1 + 3·2^-8 rounds up.
        XCTAssertEqual(Safetensors.bfloat16Bits(1 + 1.0 / 256), Safetensors.bfloat16Bits(1))
        XCTAssertEqual(Safetensors.bfloat16Bits(1 + 3.0 / 256), Safetensors.bfloat16Bits(1) + 2)
    }

    func testMalformedFilesAreTypedErrorsNamingTheFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func attempt(_ bytes: [UInt8], _ name: String) -> CheckpointError? {
            let url = directory.appendingPathComponent(name)
            try? Data(bytes).write(to: url)
            do { _ = try Safetensors.read(contentsOf: url); return nil } catch { return error as? CheckpointError }
        }
        var header = Data("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}".utf8)
        var length = UInt64(header.count).littleEndian
        let prefix = withUnsafeBytes(of: &length) { Array($0) }
        let truncated = prefix + Array(header) + [0, 0, 0, 0]
        let cases: [([UInt8], String)] = [
            ([], "empty.safetensors"),
            ([1, 2, 3], "short.safetensors"),
            ([255, 255, 255, 255, 255, 255, 255, 127, 0], "huge-header.safetensors"),
            (prefix + Array(repeating: UInt8(ascii: "x"), count: header.count), "not-json.safetensors"),
            (truncated, "truncated.safetensors"),
        ]
        for (bytes, name) in cases {
            guard let error = attempt(bytes, name) else { XCTFail("\(name) was accepted"); continue }
            XCTAssertTrue(error.description.contains(name), "\(error) does not name \(name)")
        }
        header = Data("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}".utf8)
        length = UInt64(header.count).littleEndian
        let unsupported = withUnsafeBytes(of: &length) { Array($0) } + Array(header) + Array(repeating: 0, count: 8)
        XCTAssertEqual(attempt(unsupported, "c64.safetensors"),
                       .unsupportedDataType(path: directory.appendingPathComponent("c64.safetensors").path, key: "a", dataType: "C64"))
        XCTAssertNotNil(attempt([], "missing-dir/none.safetensors"))
    }

    /// Saving mid-run and resuming reproduces the uninterrupted run's losses exactly.
    func testTrainingStateResumesExactly() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func makeRun() -> (Sequential, Adam, RandomGenerator) {
            let generator = RandomGenerator(seed: 11)
            let model = Sequential([Linear(inputFeatures: 4, outputFeatures: 8, generator: generator), Activation(.relu),
                                    Dropout(probability: 0.2, generator: generator),
                                    Linear(inputFeatures: 8, outputFeatures: 2, generator: generator)])
            return (model, Adam(parameters: model.namedParameters(), learningRate: 1e-2), generator)
        }
        func step(_ model: Sequential, _ optimizer: Adam, _ generator: RandomGenerator) -> Float {
            let x = Tensor.randomNormal([8, 4], generator: generator)
            optimizer.zeroGrad()
            let loss = Tensor.mseLoss(model(x), x.sliced(axis: 1, 0..<2).detached())
            loss.backward()
            optimizer.step()
            return loss.item
        }
        let (model, optimizer, generator) = makeRun()
        let uninterrupted = (0..<6).map { _ in step(model, optimizer, generator) }

        let (first, firstOptimizer, firstGenerator) = makeRun()
        var resumed = (0..<3).map { _ in step(first, firstOptimizer, firstGenerator) }
        let url = directory.appendingPathComponent("state.safetensors")
        try TrainingState(modules: ["model": first], optimizers: ["adam": firstOptimizer], counters: ["iteration": 3],
                          generator: firstGenerator).save(to: url)
        let (second, secondOptimizer, secondGenerator) = makeRun()
        secondGenerator.reseed(999)
        var state = TrainingState(modules: ["model": second], optimizers: ["adam": secondOptimizer], generator: secondGenerator)
        try state.load(from: url)
        XCTAssertEqual(state.counters["iteration"], 3)
        XCTAssertEqual(secondOptimizer.stepCount, 3)
        resumed += (0..<3).map { _ in step(second, secondOptimizer, secondGenerator) }
        XCTAssertEqual(resumed, uninterrupted)
    }
    /// float16 where it holds a tensor closely: weights go to F16, a tensor with an overflowing value or only values below
    /// float16's normal range stays F32; values read back within float16's rounding; the header alone gives the metadata.
    func testFloat16WhereCloseEnough() throws {
        let weights = seededNormal([64, 3, 3, 3], seed: 1, scale: 0.02)
        let huge = Tensor(shape: [2], scalars: [1, 70_000])
        let wideRange = Tensor(shape: [3], scalars: [1e-6, 2e-6, 3e-6])   // all below float16's normal range
        XCTAssertTrue(Safetensors.float16IsCloseEnough(weights))
        XCTAssertFalse(Safetensors.float16IsCloseEnough(huge))
        XCTAssertFalse(Safetensors.float16IsCloseEnough(wideRange))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stylize-f16-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(SafetensorsArchive(tensors: [("w", weights), ("huge", huge), ("wide", wideRange)], metadata: ["k": "v"]),
                              to: url, precision: .float16WhereCloseEnough)
        let header = String(decoding: try Data(contentsOf: url).prefix(400), as: UTF8.self)
        XCTAssertTrue(header.contains(#""w":{"data_offsets":[0,3456],"dtype":"F16""#), header)
        let read = try Safetensors.read(contentsOf: url).dictionary
        XCTAssertEqual(read["huge"]?.pointer[1], 70_000)
        XCTAssertEqual(read["wide"]?.pointer[0], 1e-6)
        for index in 0..<weights.count {
            XCTAssertEqual(read["w"]!.pointer[index], weights.pointer[index], accuracy: abs(weights.pointer[index]) * 4.9e-4 + 6e-8)
        }
        XCTAssertEqual(try Safetensors.metadata(contentsOf: url), ["k": "v"])
    }
}
