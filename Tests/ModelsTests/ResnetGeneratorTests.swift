import _TestSupport
import Models
import NN
import Tensor
import XCTest

final class ResnetGeneratorTests: XCTestCase {
    func testReferenceSizeAndKeys() {
        let generator = ResnetGenerator(blocks: 9)
        XCTAssertEqual(generator.parameterCount, 11_378_179)
        let keys = generator.stateDictionary().map(\.name)
        XCTAssertEqual(keys.first, "model.1.weight")
        XCTAssertEqual(keys.last, "model.26.bias")
        XCTAssertTrue(keys.contains("model.10.conv_block.1.weight"))
        XCTAssertTrue(keys.contains("model.18.conv_block.5.bias"))
        XCTAssertTrue(keys.contains("model.19.weight"))
        XCTAssertEqual(keys.count, 2 * (3 + 9 * 2 + 2 + 1))
        let withDropout = ResnetGenerator(filters: 8, blocks: 6, dropout: true).stateDictionary().map(\.name)
        XCTAssertTrue(withDropout.contains("model.10.conv_block.6.weight"))
        let batch = ResnetGenerator(filters: 8, blocks: 6, normalization: .batch).stateDictionary().map(\.name)
        XCTAssertTrue(batch.contains("model.2.running_var"))
        XCTAssertFalse(batch.contains("model.1.bias"))
    }

    func testForwardShapeRangeAndDeterminism() {
        let first = ResnetGenerator(filters: 8, blocks: 2, generator: RandomGenerator(seed: 4))
        let second = ResnetGenerator(filters: 8, blocks: 2, generator: RandomGenerator(seed: 4))
        first.initializeWeights(.normal(), generator: RandomGenerator(seed: 5))
        second.initializeWeights(.normal(), generator: RandomGenerator(seed: 5))
        let input = Tensor.randomUniform([1, 3, 20, 28], low: -1, high: 1, generator: RandomGenerator(seed: 6))
        let output = withoutGradient { first(input) }
        XCTAssertEqual(output.shape, [1, 3, 20, 28])
        XCTAssertTrue(output.scalars.allSatisfy { $0 >= -1 && $0 <= 1 })
        XCTAssertEqual(output.scalars, withoutGradient { second(input) }.scalars)
    }

    func testGradientsReachEveryParameter() {
        let generator = ResnetGenerator(filters: 4, blocks: 1, generator: RandomGenerator(seed: 1))
        let input = Tensor.randomUniform([2, 3, 8, 8], low: -1, high: 1, generator: RandomGenerator(seed: 2))
        Tensor.l1Loss(generator(input), input).backward()
        for (name, parameter) in generator.namedParameters() {
            XCTAssertNotNil(parameter.grad, name)
            XCTAssertGreaterThan(parameter.grad?.abs().max().item ?? 0, 0, name)
        }
    }
}

final class InferenceFusionTests: XCTestCase {
    /// The fused instance-norm + ReLU used in inference gives what the separate layers give with the tape on.
    func testFusedNormalizationMatchesSeparateLayers() {
        let generator = ResnetGenerator(filters: 8, blocks: 2, generator: RandomGenerator(seed: 8))
        generator.initializeWeights(.normal(), generator: RandomGenerator(seed: 9))
        let input = Tensor.randomUniform([1, 3, 16, 12], low: -1, high: 1, generator: RandomGenerator(seed: 10))
        let fused = withoutGradient { generator(input) }
        let recorded = generator(input)   // tape on: every layer runs on its own
        assertClose(fused, recorded.detached(), absolute: 1e-6, relative: 1e-5, "fused vs separate")
        let x = Tensor.randomNormal([2, 3, 5, 4], generator: RandomGenerator(seed: 11))
        assertClose(withoutGradient { x.instanceNormalizedRectified() }, x.instanceNormalized().relu(), absolute: 1e-6,
                    "instanceNormalizedRectified")
    }
}
