import _TestSupport
import NN
import Tensor
import XCTest

final class ModuleTests: XCTestCase {
    final class Block: Module {
        let body: Sequential
        override init() {
            body = Sequential([Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1),
                               BatchNorm2d(channels: 3), Activation(.relu)])
            super.init()
            registerModule("body", body)
        }
        override func forward(_ input: Tensor) -> Tensor { body(input) }
    }

    func testStateDictionaryKeysFollowPyTorch() {
        let keys = Block().stateDictionary().map(\.name)
        XCTAssertEqual(keys, ["body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias", "body.1.running_mean",
                              "body.1.running_var", "body.1.num_batches_tracked"])
        XCTAssertEqual(Block().namedParameters().count, 4)
    }

    func testLoadCopiesValuesAndReportsProblems() throws {
        let source = Block(), target = Block()
        source.stateDictionary().forEach { $0.tensor.fill(0.5) }
        try target.load(stateDictionary: Dictionary(uniqueKeysWithValues: source.stateDictionary().map { ($0.name, $0.tensor) }))
        XCTAssertEqual(target.body.layers[0].namedParameters()[0].tensor.scalars.first, 0.5)

        var partial = Dictionary(uniqueKeysWithValues: source.stateDictionary().map { ($0.name, $0.tensor) })
        partial.removeValue(forKey: "body.0.bias")
        XCTAssertThrowsError(try target.load(stateDictionary: partial)) { error in
            XCTAssertEqual(error as? ModuleError, .missingKeys(["body.0.bias"]))
        }
        XCTAssertNoThrow(try target.load(stateDictionary: partial, strict: false))
        partial["body.0.bias"] = Tensor.zeros([4])
        XCTAssertThrowsError(try target.load(stateDictionary: partial)) { error in
            XCTAssertEqual(error as? ModuleError, .shapeMismatch(key: "body.0.bias", expected: [3], found: [4]))
        }
        partial["body.0.bias"] = Tensor.zeros([3])
        partial["extra"] = Tensor.zeros([1])
        XCTAssertThrowsError(try target.load(stateDictionary: partial)) { error in
            XCTAssertEqual(error as? ModuleError, .unexpectedKeys(["extra"]))
        }
    }

    func testTrainAndEvalSwitchBatchNormAndDropout() {
        let block = Block()
        let input = seededNormal([4, 2, 5, 5], seed: 1)
        _ = block(input)
        let norm = block.body.layers[1] as! BatchNorm2d
        XCTAssertNotEqual(norm.runningMean.scalars, [0, 0, 0], "training updates running statistics")
        XCTAssertEqual(norm.batchesTracked.item, 1)
        block.eval()
        XCTAssertFalse(norm.isTraining)
        let before = norm.runningMean.scalars
        _ = block(input)
        XCTAssertEqual(norm.runningMean.scalars, before, "evaluation leaves running statistics alone")

        let dropout = Dropout(probability: 0.5, generator: RandomGenerator(seed: 1))
        let ones = Tensor.ones([1000])
        let dropped = dropout(ones)
        XCTAssertEqual(dropped.scalars.filter { $0 == 0 }.count, 500, accuracy: 60)
        XCTAssertTrue(dropped.scalars.allSatisfy { $0 == 0 || $0 == 2 })
        dropout.eval()
        XCTAssertEqual(dropout(ones).scalars, ones.scalars)
    }

    func testInitializersHaveTheDocumentedStatistics() {
        let weight = Tensor.zeros([256, 128, 3, 3])
        func deviation(_ tensor: Tensor) -> Float { tensor.reshaped([-1]).variance(axes: [0]).item.squareRoot() }
        Initializer.normal(mean: 0, standardDeviation: 0.02).initialize(weight, generator: RandomGenerator(seed: 1))
        XCTAssertEqual(deviation(weight), 0.02, accuracy: 0.0005)
        Initializer.xavierNormal().initialize(weight, generator: RandomGenerator(seed: 2))
        XCTAssertEqual(deviation(weight), (2 / Float(128 * 9 + 256 * 9)).squareRoot(), accuracy: 0.0005)
        Initializer.kaimingNormal().initialize(weight, generator: RandomGenerator(seed: 3))
        XCTAssertEqual(deviation(weight), (2 / Float(128 * 9)).squareRoot(), accuracy: 0.001)
        Initializer.xavierUniform().initialize(weight, generator: RandomGenerator(seed: 4))
        let bound = (6 / Float(128 * 9 + 256 * 9)).squareRoot()
        XCTAssertLessThanOrEqual(weight.abs().max().item, bound)
        XCTAssertEqual(deviation(weight), bound / Float(3).squareRoot(), accuracy: 0.0005)
        Initializer.kaimingUniform().initialize(weight, generator: RandomGenerator(seed: 5))
        XCTAssertLessThanOrEqual(weight.abs().max().item, (6 / Float(128 * 9)).squareRoot())

        let matrix = Tensor.zeros([6, 10])
        Initializer.orthogonal(gain: 2).initialize(matrix, generator: RandomGenerator(seed: 6))
        let gram = matrix.matmul(matrix, transposeOther: true)
        for row in 0..<6 {
            for column in 0..<6 {
                XCTAssertEqual(gram.pointer[row * 6 + column], row == column ? 4 : 0, accuracy: 1e-4)
            }
        }
        let tall = Tensor.zeros([10, 4])
        Initializer.orthogonal().initialize(tall, generator: RandomGenerator(seed: 7))
        let columns = tall.matmul(tall, transposeSelf: true)
        for index in 0..<4 { XCTAssertEqual(columns.pointer[index * 4 + index], 1, accuracy: 1e-4) }

        let a = Block(), b = Block()
        a.initializeWeights(.normal(), generator: RandomGenerator(seed: 9))
        b.initializeWeights(.normal(), generator: RandomGenerator(seed: 9))
        XCTAssertEqual(a.stateDictionary().map(\.tensor.scalars), b.stateDictionary().map(\.tensor.scalars))
        XCTAssertEqual((a.body.layers[0] as! Conv2d).bias?.scalars, [0, 0, 0])
    }
}
