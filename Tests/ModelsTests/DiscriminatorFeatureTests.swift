import _TestSupport
import Models
import NN
import Tensor
import XCTest

final class DiscriminatorFeatureTests: XCTestCase {
    /// The features of a PatchGAN: one per hidden activation, then the output, which is what forward gives.
    func testDiscriminatorFeaturesAndOptions() {
        var architecture = DiscriminatorArchitecture(kind: .basic, filters: 4, normalization: .instance)
        architecture.minibatchStandardDeviation = true
        architecture.spectralNormalization = true
        let discriminator = architecture.makeDiscriminator(inputChannels: 3, generator: RandomGenerator(seed: 8)) as! PatchDiscriminator
        discriminator.eval()
        let input = seededNormal([2, 3, 32, 32], seed: 9)
        let features = discriminator.features(input)
        XCTAssertEqual(features.count, 5)
        XCTAssertEqual(maximumDifference(features.last!, discriminator(input)), 0)
        XCTAssertEqual(discriminator.stateDictionary().filter { $0.name.hasSuffix("weight_u") }.count, 5)
    }
}
