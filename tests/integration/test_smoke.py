from tests.conftest import PASSWORD
from tests.support.charger import charger


async def test_boot_and_show(api, ocpp_url, registered):
    async with charger(ocpp_url, registered, PASSWORD) as cp:
        answer = await cp.boot()
        assert answer.status == "Accepted"
        shown = (await api.get(f"/charge-points/{registered}")).json()
        assert shown["connected"] is True
        assert shown["vendor"] == "AmpNexusTest"
