import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Open MPI's C API, loaded at run time with `dlopen` — so the binary neither links against nor needs MPI unless a
/// launcher (`mpirun`) started it. Only the calls ``Communicator`` makes are bound. Handles (`MPI_COMM_WORLD`,
/// `MPI_FLOAT`, `MPI_SUM`, …) are, in Open MPI, the addresses of exported objects (`ompi_mpi_comm_world`, …).
final class OpenMPI: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    typealias InitThread = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int32, UnsafeMutablePointer<Int32>) -> Int32
    typealias CommunicatorQuery = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    typealias Allreduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32
    typealias Broadcast = @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle) -> Int32
    typealias Gather = @convention(c) (UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle) -> Int32
    typealias Allgather = @convention(c) (UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?, Int32, Handle, Handle) -> Int32
    typealias Abort = @convention(c) (Handle, Int32) -> Int32
    typealias Finalize = @convention(c) () -> Int32

    /// `MPI_IN_PLACE` in Open MPI.
    static var inPlace: UnsafeRawPointer { UnsafeRawPointer(bitPattern: 1)! }
    /// `MPI_THREAD_FUNNELED`: only the main thread calls MPI (the data loader's threads never do).
    static let threadFunneled: Int32 = 1

    let initThread: InitThread
    let commRank: CommunicatorQuery
    let commSize: CommunicatorQuery
    let allreduce: Allreduce
    let broadcast: Broadcast
    let gather: Gather
    let allgather: Allgather
    let abort: Abort
    let finalize: Finalize
    let world: Handle
    let float: Handle
    let double: Handle
    let byte: Handle
    let sum: Handle
    let max: Handle

    /// The library names tried, in order (Debian's openmpi-bin installs the first).
    static let libraryNames = ["libmpi.so.40", "libmpi.so"]

    /// Loads the library and binds every symbol; throws naming what is missing.
    init() throws {
        // RTLD_GLOBAL: Open MPI's own plugins, loaded later, resolve their symbols against libmpi.
        guard let library = OpenMPI.libraryNames.lazy.compactMap({ dlopen($0, RTLD_NOW | RTLD_GLOBAL) }).first else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            throw DistributedError.libraryMissing("\(OpenMPI.libraryNames.joined(separator: " or ")) could not be loaded (\(reason))")
        }
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let address = dlsym(library, name) else {
                throw DistributedError.libraryMissing("libmpi has no \(name): stylize needs Open MPI (Debian's openmpi-bin)")
            }
            return address
        }
        func function<T>(_ name: String, _ type: T.Type) throws -> T { unsafeBitCast(try symbol(name), to: type) }
        initThread = try function("MPI_Init_thread", InitThread.self)
        commRank = try function("MPI_Comm_rank", CommunicatorQuery.self)
        commSize = try function("MPI_Comm_size", CommunicatorQuery.self)
        allreduce = try function("MPI_Allreduce", Allreduce.self)
        broadcast = try function("MPI_Bcast", Broadcast.self)
        gather = try function("MPI_Gather", Gather.self)
        allgather = try function("MPI_Allgather", Allgather.self)
        abort = try function("MPI_Abort", Abort.self)
        finalize = try function("MPI_Finalize", Finalize.self)
        world = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        double = try symbol("ompi_mpi_double")
        byte = try symbol("ompi_mpi_byte")
        sum = try symbol("ompi_mpi_op_sum")
        max = try symbol("ompi_mpi_op_max")
    }

    /// Stops on an MPI error code (the default error handler aborts first; this is the backstop).
    func check(_ code: Int32, _ call: String) {
        if code != 0 { fatalError("\(call) failed with MPI error \(code)") }
    }
}

/// Why a distributed run could not start.
public enum DistributedError: Error, CustomStringConvertible {
    case libraryMissing(String)
    case initialisation(String)
    /// The ranks' weights differ after a step (they must stay identical).
    case diverged(String)
    case mismatch(String)

    public var description: String {
        switch self {
        case .libraryMissing(let reason): return "launched by mpirun, but MPI is unavailable: \(reason)"
        case .initialisation(let reason): return "MPI did not start: \(reason)"
        case .diverged(let reason): return "the ranks' weights diverged: \(reason)"
        case .mismatch(let reason): return "the ranks disagree: \(reason)"
        }
    }
}
