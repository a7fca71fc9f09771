// SPDX-License-Identifier: MIT
pragma solidity ^0.8.25;

// A stand-in for Raindex orderbooks: it emits the events of OrderBook V4 (ClearV2, AfterClear,
// TakeOrderV2) and of OrderBook V5 / Raindex V6 (ClearV3, AfterClearV2, TakeOrderV3) with the
// real structs, from functions that take the struct values as arguments; those move no tokens.
// It also holds OrderBook V4's vaults (deposit2, withdraw2, vaultBalance, with the real Deposit
// and Withdraw events), which do move tokens, and a test-only settleFill that moves vault
// balances as a fill would.

interface IERC20Minimal {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

// OrderBook V4
struct IO {
    address token;
    uint8 decimals;
    uint256 vaultId;
}

struct EvaluableV3 {
    address interpreter;
    address store;
    bytes bytecode;
}

struct OrderV3 {
    address owner;
    EvaluableV3 evaluable;
    IO[] validInputs;
    IO[] validOutputs;
    bytes32 nonce;
}

struct ClearConfig {
    uint256 aliceInputIOIndex;
    uint256 aliceOutputIOIndex;
    uint256 bobInputIOIndex;
    uint256 bobOutputIOIndex;
    uint256 aliceBountyVaultId;
    uint256 bobBountyVaultId;
}

struct ClearStateChange {
    uint256 aliceOutput;
    uint256 bobOutput;
    uint256 aliceInput;
    uint256 bobInput;
}

struct SignedContextV1 {
    address signer;
    uint256[] context;
    bytes signature;
}

struct TaskV1 {
    EvaluableV3 evaluable;
    SignedContextV1[] signedContext;
}

struct TakeOrderConfigV3 {
    OrderV3 order;
    uint256 inputIOIndex;
    uint256 outputIOIndex;
    SignedContextV1[] signedContext;
}

// OrderBook V5 / Raindex V6: amounts are rain.math.float words.
type Float is bytes32;

struct IOV2 {
    address token;
    bytes32 vaultId;
}

struct EvaluableV4 {
    address interpreter;
    address store;
    bytes bytecode;
}

struct OrderV4 {
    address owner;
    EvaluableV4 evaluable;
    IOV2[] validInputs;
    IOV2[] validOutputs;
    bytes32 nonce;
}

struct ClearConfigV2 {
    uint256 aliceInputIOIndex;
    uint256 aliceOutputIOIndex;
    uint256 bobInputIOIndex;
    uint256 bobOutputIOIndex;
    bytes32 aliceBountyVaultId;
    bytes32 bobBountyVaultId;
}

struct ClearStateChangeV2 {
    Float aliceOutput;
    Float bobOutput;
    Float aliceInput;
    Float bobInput;
}

// Named apart from V4's SignedContextV1 only to share this file: the ABI is the same.
struct SignedContextV1Bytes32 {
    address signer;
    bytes32[] context;
    bytes signature;
}

struct TakeOrderConfigV4 {
    OrderV4 order;
    uint256 inputIOIndex;
    uint256 outputIOIndex;
    SignedContextV1Bytes32[] signedContext;
}

contract RaindexStandIn {
    event ClearV2(address sender, OrderV3 alice, OrderV3 bob, ClearConfig clearConfig);
    event AfterClear(address sender, ClearStateChange clearStateChange);
    event TakeOrderV2(address sender, TakeOrderConfigV3 config, uint256 input, uint256 output);

    event ClearV3(address sender, OrderV4 alice, OrderV4 bob, ClearConfigV2 clearConfig);
    event AfterClearV2(address sender, ClearStateChangeV2 clearStateChange);
    event TakeOrderV3(address sender, TakeOrderConfigV4 config, Float input, Float output);

    event Deposit(address sender, address token, uint256 vaultId, uint256 amount);
    event Withdraw(
        address sender,
        address token,
        uint256 vaultId,
        uint256 targetAmount,
        uint256 amount
    );

    // owner => token => vault id => balance, as OrderBook V4 keeps it
    mapping(address => mapping(address => mapping(uint256 => uint256))) private _vaults;

    function vaultBalance(
        address owner,
        address token,
        uint256 vaultId
    ) external view returns (uint256) {
        return _vaults[owner][token][vaultId];
    }

    // V4 vaults: the tasks are accepted and not run (the stand-in has no interpreter).
    function deposit2(
        address token,
        uint256 vaultId,
        uint256 depositAmount,
        TaskV1[] calldata
    ) external {
        require(depositAmount > 0, "ZeroDepositAmount");
        IERC20Minimal(token).transferFrom(msg.sender, address(this), depositAmount);
        _vaults[msg.sender][token][vaultId] += depositAmount;
        emit Deposit(msg.sender, token, vaultId, depositAmount);
    }

    // Withdraws min(targetAmount, balance): what arrives may be less than what was asked.
    function withdraw2(
        address token,
        uint256 vaultId,
        uint256 targetAmount,
        TaskV1[] calldata
    ) external {
        require(targetAmount > 0, "ZeroWithdrawTargetAmount");
        uint256 balance = _vaults[msg.sender][token][vaultId];
        uint256 amount = targetAmount < balance ? targetAmount : balance;
        if (amount > 0) {
            _vaults[msg.sender][token][vaultId] = balance - amount;
            IERC20Minimal(token).transfer(msg.sender, amount);
            emit Withdraw(msg.sender, token, vaultId, targetAmount, amount);
        }
    }

    // Test only: a fill against `owner`'s order, as the orderbook settles one: `amountIn` of
    // `tokenIn` credited to the owner's vault (the tokens must already be held by this
    // contract: fund it first) and `amountOut` of `tokenOut` debited from the owner's vault and
    // sent to the caller, the taker.
    function settleFill(
        address owner,
        address tokenIn,
        uint256 vaultIn,
        uint256 amountIn,
        address tokenOut,
        uint256 vaultOut,
        uint256 amountOut
    ) external {
        uint256 balanceOut = _vaults[owner][tokenOut][vaultOut];
        require(balanceOut >= amountOut, "vault balance too low");
        _vaults[owner][tokenOut][vaultOut] = balanceOut - amountOut;
        _vaults[owner][tokenIn][vaultIn] += amountIn;
        if (amountOut > 0) {
            IERC20Minimal(tokenOut).transfer(msg.sender, amountOut);
        }
    }

    // V4: a clear as the orderbook emits it (ClearV2, then its AfterClear), or each half alone.
    function clearV2(
        OrderV3 calldata alice,
        OrderV3 calldata bob,
        ClearConfig calldata clearConfig,
        ClearStateChange calldata clearStateChange
    ) external {
        emit ClearV2(msg.sender, alice, bob, clearConfig);
        emit AfterClear(msg.sender, clearStateChange);
    }

    function emitClearV2(
        OrderV3 calldata alice,
        OrderV3 calldata bob,
        ClearConfig calldata clearConfig
    ) external {
        emit ClearV2(msg.sender, alice, bob, clearConfig);
    }

    function emitAfterClear(ClearStateChange calldata clearStateChange) external {
        emit AfterClear(msg.sender, clearStateChange);
    }

    function takeOrderV2(
        TakeOrderConfigV3 calldata config,
        uint256 input,
        uint256 output
    ) external {
        emit TakeOrderV2(msg.sender, config, input, output);
    }

    // V5 / V6
    function clearV3(
        OrderV4 calldata alice,
        OrderV4 calldata bob,
        ClearConfigV2 calldata clearConfig,
        ClearStateChangeV2 calldata clearStateChange
    ) external {
        emit ClearV3(msg.sender, alice, bob, clearConfig);
        emit AfterClearV2(msg.sender, clearStateChange);
    }

    function emitClearV3(
        OrderV4 calldata alice,
        OrderV4 calldata bob,
        ClearConfigV2 calldata clearConfig
    ) external {
        emit ClearV3(msg.sender, alice, bob, clearConfig);
    }

    function emitAfterClearV2(ClearStateChangeV2 calldata clearStateChange) external {
        emit AfterClearV2(msg.sender, clearStateChange);
    }

    function takeOrderV3(TakeOrderConfigV4 calldata config, Float input, Float output) external {
        emit TakeOrderV3(msg.sender, config, input, output);
    }

    // A log with any topic0 and data: a malformed event the reader must survive.
    function emitRaw(bytes32 topic0, bytes calldata data) external {
        bytes memory body = data;
        assembly {
            log1(add(body, 0x20), mload(body), topic0)
        }
    }

    // Several of the calls above in one transaction, in order.
    function multicall(bytes[] calldata calls) external {
        for (uint256 i = 0; i < calls.length; i++) {
            (bool ok, bytes memory reason) = address(this).delegatecall(calls[i]);
            if (!ok) {
                assembly {
                    revert(add(reason, 0x20), mload(reason))
                }
            }
        }
    }
}
