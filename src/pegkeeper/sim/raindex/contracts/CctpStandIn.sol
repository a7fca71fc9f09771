// SPDX-License-Identifier: MIT
pragma solidity ^0.8.25;

// A stand-in for Circle's CCTP v2, one pair per chain: a token messenger (depositForBurn takes
// the USDC, burns it and sends a burn message) and a message transmitter (MessageSent on the
// source chain; receiveMessage on the destination checks the attester's signature, refuses a
// nonce used before and hands the burn message to the messenger, which mints). The message and
// burn-message layouts, the function signatures and the events are CCTP v2's; fees, hooks,
// denylists, pausing and several attesters are left out.
//
// As with CCTP v2, the message emitted on the source chain carries an empty nonce and an empty
// finalityThresholdExecuted: the attestation service fills both in and signs keccak256 of the
// message it returns (65 bytes r, s, v, no prefix).

interface IBurnMintToken {
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function burn(uint256 amount) external;
    function mint(address to, uint256 amount) external;
}

interface IMessageHandlerV2 {
    function handleReceiveFinalizedMessage(
        uint32 remoteDomain,
        bytes32 sender,
        uint32 finalityThresholdExecuted,
        bytes calldata messageBody
    ) external returns (bool);
}

uint32 constant MESSAGE_VERSION = 1;
uint32 constant MESSAGE_BODY_VERSION = 1;
uint32 constant FINALITY_THRESHOLD_FINALIZED = 2000;

function addressToBytes32(address value) pure returns (bytes32) {
    return bytes32(uint256(uint160(value)));
}

function bytes32ToAddress(bytes32 value) pure returns (address) {
    return address(uint160(uint256(value)));
}

contract TestMessageTransmitter {
    // MessageV2 field offsets
    uint256 private constant SOURCE_DOMAIN_INDEX = 4;
    uint256 private constant DESTINATION_DOMAIN_INDEX = 8;
    uint256 private constant NONCE_INDEX = 12;
    uint256 private constant SENDER_INDEX = 44;
    uint256 private constant RECIPIENT_INDEX = 76;
    uint256 private constant DESTINATION_CALLER_INDEX = 108;
    uint256 private constant FINALITY_THRESHOLD_EXECUTED_INDEX = 144;
    uint256 private constant MESSAGE_BODY_INDEX = 148;
    uint256 private constant SIGNATURE_LENGTH = 65;

    event MessageSent(bytes message);
    event MessageReceived(
        address indexed caller,
        uint32 sourceDomain,
        bytes32 indexed nonce,
        bytes32 sender,
        uint32 indexed finalityThresholdExecuted,
        bytes messageBody
    );

    uint32 public immutable localDomain;
    address public attester;
    // 1 once a nonce's message was received, as CCTP v2 keeps it
    mapping(bytes32 => uint256) public usedNonces;

    constructor(uint32 localDomain_, address attester_) {
        localDomain = localDomain_;
        attester = attester_;
    }

    function sendMessage(
        uint32 destinationDomain,
        bytes32 recipient,
        bytes32 destinationCaller,
        uint32 minFinalityThreshold,
        bytes calldata messageBody
    ) external {
        require(destinationDomain != localDomain, "Domain is local domain");
        bytes memory message = abi.encodePacked(
            MESSAGE_VERSION,
            localDomain,
            destinationDomain,
            bytes32(0), // the nonce, assigned by the attestation service
            addressToBytes32(msg.sender),
            recipient,
            destinationCaller,
            minFinalityThreshold,
            uint32(0), // finalityThresholdExecuted, likewise
            messageBody
        );
        emit MessageSent(message);
    }

    function receiveMessage(
        bytes calldata message,
        bytes calldata attestation
    ) external returns (bool success) {
        require(message.length >= MESSAGE_BODY_INDEX, "Invalid message: too short");
        require(uint32(bytes4(message[0:4])) == MESSAGE_VERSION, "Invalid message version");
        require(_uint32At(message, DESTINATION_DOMAIN_INDEX) == localDomain, "Invalid destination domain");
        bytes32 destinationCaller = bytes32(message[DESTINATION_CALLER_INDEX:DESTINATION_CALLER_INDEX + 32]);
        require(
            destinationCaller == bytes32(0) || destinationCaller == addressToBytes32(msg.sender),
            "Invalid caller for message"
        );
        require(_signer(keccak256(message), attestation) == attester, "Invalid attestation");
        bytes32 nonce = bytes32(message[NONCE_INDEX:NONCE_INDEX + 32]);
        require(usedNonces[nonce] == 0, "Nonce already used");
        usedNonces[nonce] = 1;

        uint32 sourceDomain = _uint32At(message, SOURCE_DOMAIN_INDEX);
        bytes32 sender = bytes32(message[SENDER_INDEX:SENDER_INDEX + 32]);
        uint32 finalityExecuted = _uint32At(message, FINALITY_THRESHOLD_EXECUTED_INDEX);
        bytes calldata body = message[MESSAGE_BODY_INDEX:];
        address recipient = bytes32ToAddress(bytes32(message[RECIPIENT_INDEX:RECIPIENT_INDEX + 32]));
        require(
            IMessageHandlerV2(recipient).handleReceiveFinalizedMessage(
                sourceDomain,
                sender,
                finalityExecuted,
                body
            ),
            "handleReceiveMessage() failed"
        );
        emit MessageReceived(msg.sender, sourceDomain, nonce, sender, finalityExecuted, body);
        return true;
    }

    function _uint32At(bytes calldata message, uint256 index) private pure returns (uint32) {
        return uint32(bytes4(message[index:index + 4]));
    }

    function _signer(bytes32 digest, bytes calldata signature) private pure returns (address) {
        require(signature.length == SIGNATURE_LENGTH, "Invalid attestation length");
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        address signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "Invalid signature");
        return signer;
    }
}

contract TestTokenMessenger is IMessageHandlerV2 {
    // BurnMessageV2 field offsets
    uint256 private constant BURN_TOKEN_INDEX = 4;
    uint256 private constant MINT_RECIPIENT_INDEX = 36;
    uint256 private constant AMOUNT_INDEX = 68;
    uint256 private constant MAX_FEE_INDEX = 132;
    uint256 private constant FEE_EXECUTED_INDEX = 164;
    uint256 private constant HOOK_DATA_INDEX = 228;

    event DepositForBurn(
        address indexed burnToken,
        uint256 amount,
        address indexed depositor,
        bytes32 mintRecipient,
        uint32 destinationDomain,
        bytes32 destinationTokenMessenger,
        bytes32 destinationCaller,
        uint256 maxFee,
        uint32 indexed minFinalityThreshold,
        bytes hookData
    );
    event MintAndWithdraw(
        address indexed mintRecipient,
        uint256 amount,
        address indexed mintToken,
        uint256 feeCollected
    );

    TestMessageTransmitter public immutable localMessageTransmitter;
    mapping(uint32 => bytes32) public remoteTokenMessengers;
    // keccak256(remote domain, remote token) => the local token minted for it
    mapping(bytes32 => address) public localTokens;

    constructor(address messageTransmitter) {
        localMessageTransmitter = TestMessageTransmitter(messageTransmitter);
    }

    // Set-up (the owner's calls in CCTP; open here): the messenger of a remote domain, and the
    // local token a remote burn token mints.
    function addRemoteTokenMessenger(uint32 domain, bytes32 tokenMessenger) external {
        remoteTokenMessengers[domain] = tokenMessenger;
    }

    function linkTokenPair(address localToken, uint32 remoteDomain, bytes32 remoteToken) external {
        localTokens[keccak256(abi.encodePacked(remoteDomain, remoteToken))] = localToken;
    }

    function depositForBurn(
        uint256 amount,
        uint32 destinationDomain,
        bytes32 mintRecipient,
        address burnToken,
        bytes32 destinationCaller,
        uint256 maxFee,
        uint32 minFinalityThreshold
    ) external {
        require(amount > 0, "Amount must be nonzero");
        require(mintRecipient != bytes32(0), "Mint recipient must be nonzero");
        require(maxFee < amount, "Max fee must be less than amount");
        bytes32 destinationMessenger = remoteTokenMessengers[destinationDomain];
        require(destinationMessenger != bytes32(0), "No TokenMessenger for domain");
        IBurnMintToken(burnToken).transferFrom(msg.sender, address(this), amount);
        IBurnMintToken(burnToken).burn(amount);
        bytes memory body = abi.encodePacked(
            MESSAGE_BODY_VERSION,
            addressToBytes32(burnToken),
            mintRecipient,
            amount,
            addressToBytes32(msg.sender),
            maxFee,
            uint256(0), // feeExecuted, filled in by the attestation service
            uint256(0) // expirationBlock
        );
        localMessageTransmitter.sendMessage(
            destinationDomain,
            destinationMessenger,
            destinationCaller,
            minFinalityThreshold,
            body
        );
        emit DepositForBurn(
            burnToken,
            amount,
            msg.sender,
            mintRecipient,
            destinationDomain,
            destinationMessenger,
            destinationCaller,
            maxFee,
            minFinalityThreshold,
            ""
        );
    }

    function handleReceiveFinalizedMessage(
        uint32 remoteDomain,
        bytes32 sender,
        uint32,
        bytes calldata messageBody
    ) external returns (bool) {
        require(msg.sender == address(localMessageTransmitter), "Invalid message transmitter");
        require(sender == remoteTokenMessengers[remoteDomain], "Remote TokenMessenger unsupported");
        require(messageBody.length >= HOOK_DATA_INDEX, "Invalid message: too short");
        require(uint32(bytes4(messageBody[0:4])) == MESSAGE_BODY_VERSION, "Invalid message body version");
        bytes32 burnToken = bytes32(messageBody[BURN_TOKEN_INDEX:BURN_TOKEN_INDEX + 32]);
        address token = localTokens[keccak256(abi.encodePacked(remoteDomain, burnToken))];
        require(token != address(0), "Mint token not supported");
        address recipient = bytes32ToAddress(
            bytes32(messageBody[MINT_RECIPIENT_INDEX:MINT_RECIPIENT_INDEX + 32])
        );
        uint256 amount = uint256(bytes32(messageBody[AMOUNT_INDEX:AMOUNT_INDEX + 32]));
        uint256 maxFee = uint256(bytes32(messageBody[MAX_FEE_INDEX:MAX_FEE_INDEX + 32]));
        uint256 fee = uint256(bytes32(messageBody[FEE_EXECUTED_INDEX:FEE_EXECUTED_INDEX + 32]));
        require(fee <= maxFee && fee < amount, "Fee exceeds max fee or amount");
        IBurnMintToken(token).mint(recipient, amount - fee);
        emit MintAndWithdraw(recipient, amount - fee, token, fee);
        return true;
    }
}
