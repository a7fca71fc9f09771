// SPDX-License-Identifier: MIT
pragma solidity ^0.8.25;

// ERC-20 tokens for tests and the demo: a stock token (18 decimals), USDC (6), a token whose
// symbol() reverts, and an ERC-4626-like wrapper whose share value can be changed to play a
// dividend (1.05 underlying per share) or a split (2 per share). Anyone may mint; a holder may
// burn its own tokens, as a bridge burns the USDC deposited with it (FiatToken's burn).

contract TestToken {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    string public name;
    string private _symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        _symbol = symbol_;
        decimals = decimals_;
    }

    function symbol() external view virtual returns (string memory) {
        return _symbol;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function burn(uint256 amount) external {
        _burn(msg.sender, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spendAllowance(from, msg.sender, amount);
        _transfer(from, to, amount);
        return true;
    }

    function _spendAllowance(address owner, address spender, uint256 amount) internal {
        uint256 allowed = allowance[owner][spender];
        require(allowed >= amount, "allowance too low");
        if (allowed != type(uint256).max) {
            allowance[owner][spender] = allowed - amount;
        }
    }

    function _transfer(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount, "balance too low");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }

    function _mint(address to, uint256 amount) internal {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _burn(address from, uint256 amount) internal {
        require(balanceOf[from] >= amount, "balance too low");
        balanceOf[from] -= amount;
        totalSupply -= amount;
        emit Transfer(from, address(0), amount);
    }
}

contract UnlabelledToken is TestToken {
    constructor(uint8 decimals_) TestToken("Unlabelled", "", decimals_) {}

    function symbol() external pure override returns (string memory) {
        revert("no symbol");
    }
}

contract TestWrapper is TestToken {
    uint256 private constant WAD = 1e18;

    address public immutable asset;
    // Underlying assets per wrapped share, scaled by 1e18 (both sides have the same decimals).
    uint256 public assetsPerShareWad = WAD;

    constructor(
        address asset_,
        string memory name_,
        string memory symbol_
    ) TestToken(name_, symbol_, TestToken(asset_).decimals()) {
        asset = asset_;
    }

    function setAssetsPerShare(uint256 assetsPerShareWad_) external {
        require(assetsPerShareWad_ > 0, "ratio must be positive");
        assetsPerShareWad = assetsPerShareWad_;
    }

    function convertToAssets(uint256 shares) public view returns (uint256) {
        return (shares * assetsPerShareWad) / WAD;
    }

    function convertToShares(uint256 assets) public view returns (uint256) {
        return (assets * WAD) / assetsPerShareWad;
    }

    function deposit(uint256 assets, address receiver) external returns (uint256 shares) {
        shares = convertToShares(assets);
        TestToken(asset).transferFrom(msg.sender, address(this), assets);
        _mint(receiver, shares);
    }

    function redeem(uint256 shares, address receiver, address owner) external returns (uint256 assets) {
        if (msg.sender != owner) {
            _spendAllowance(owner, msg.sender, shares);
        }
        assets = convertToAssets(shares);
        _burn(owner, shares);
        TestToken(asset).transfer(receiver, assets);
    }
}
