"""Reports of six different incidents (each opens its own incident and alerts), and a related item."""

INCIDENTS = [
    {"title": "Rocket attack hits US base in eastern Syria, no casualties",
     "text": "Several rockets struck a base housing US troops near Deir ez-Zor on Wednesday, a coalition "
             "spokesman said."},
    {"title": "Drone attack on Ain al-Asad air base in Iraq wounds two US troops",
     "text": "An explosive-laden drone hit the base in Anbar province overnight."},
    {"title": "Rockets fired at US embassy in Baghdad, air defenses intercept two",
     "text": "Several rockets were fired at the US embassy compound in Baghdad's Green Zone overnight, "
             "security officials said."},
    {"title": "One-way drone hits US outpost Tower 22 in Jordan near Syrian border",
     "text": "A drone struck the Tower 22 logistics base housing US troops in north-east Jordan, the "
             "Pentagon said."},
    {"title": "Drone attack targets coalition forces at Erbil air base",
     "text": "An explosive drone targeted the air base hosting US-led coalition troops in Erbil, Iraqi "
             "Kurdistan, officials said."},
    {"title": "Rockets target coalition base near Rumalyn in north-east Syria",
     "text": "Rockets were fired at a base housing US forces near Rumalyn in Hasakah province, the "
             "coalition said."},
]


def feed_items(reports, prefix="i"):
    return [dict(report, guid=f"{prefix}{n}", link=f"https://news.example/{prefix}{n}")
            for n, report in enumerate(reports)]
