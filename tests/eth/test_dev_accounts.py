"""dev_accounts derives the parent node once; the keys must equal eth_account's own from_mnemonic."""
from eth_account import Account as EthAccount

from node.eth.chain import DEV_HD_PATH, DEV_MNEMONIC, dev_accounts


def test_dev_accounts_match_eth_account_derivation():
    EthAccount.enable_unaudited_hdwallet_features()
    accounts = dev_accounts(12)
    assert len(accounts) == 12
    assert accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first account
    for i in (0, 1, 11):
        ref = EthAccount.from_mnemonic(DEV_MNEMONIC, account_path=f"{DEV_HD_PATH}/{i}")
        assert (accounts[i].address, accounts[i].key) == (ref.address, bytes(ref.key))


def test_dev_accounts_other_mnemonic_and_fresh_list():
    EthAccount.enable_unaudited_hdwallet_features()
    mnemonic = "abandon " * 11 + "about"
    ref = EthAccount.from_mnemonic(mnemonic, account_path=f"{DEV_HD_PATH}/2")
    assert dev_accounts(3, mnemonic)[2].key == bytes(ref.key)
    first = dev_accounts(3)
    first.pop()  # a caller's list is its own: the cache is not changed
    assert len(dev_accounts(3)) == 3
