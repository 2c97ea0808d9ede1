"""
Student servers outlive the hub: when the hub container is recreated (a new image, a
new overlay address), a running server keeps its kernel and reaches the new hub.
"""

from tests.common.hubclient import Student

NAME = "student09"


def test_a_running_server_survives_the_hub_being_recreated(lab, ca_file):
    student = Student(NAME, ca_file)
    student.login()
    student.start_server()
    try:
        student.open_lab()
        assert student.execute("print('before')").strip() == "before"
        before = lab.exec("hub", "docker", "inspect", "-f", "{{.Id}}", "jupyterhub").stdout
        lab.exec("hub", "docker", "rm", "-f", "jupyterhub")
        result = lab.salt("hub", "state.apply", "hub")["hub"]
        assert all(state["result"] for state in result.values()), result
        lab.wait_for_hub()
        after = lab.exec("hub", "docker", "inspect", "-f", "{{.Id}}", "jupyterhub").stdout
        assert after != before
        # A new browser session: the server must ask the new hub to authorise it.
        again = Student(NAME, ca_file)
        again.login()
        again.open_lab()
        assert again.execute("print('after')").strip() == "after"
    finally:
        student.stop_server()
